"""The one execution path every door calls: admit -> validate -> [lookup] -> acquire -> run -> redact -> record.

An ``Execution`` is one request's life, one-shot run or session cell alike,
as a sequence of stages (``Stage``); each stage is a method that refuses to run
out of order. Doors (CLI, REST, MCP) only build a request, name the caller and
call ``ExecutionService``: ``execute`` runs every stage inline (the CLI);
``executions.ExecutionManager`` runs admit and validate in the request and the
rest as a task of its own (REST and MCP: events, cancellation, 202).

A request that asks for the result cache (``cache: true``) is looked up after
validate: a hit is the result, and acquire and run are skipped (no container);
a miss goes on, and its result is offered to the cache before it is published.
Admission and validation happen either way.

Refusals (admit, validate) raise a ``SandboxError`` and are audited; from
acquire on, whatever happens becomes the execution's result and is recorded: the
program's outcome, our failure to run it (``capacity_unavailable``,
``internal_error``) or the caller's cancellation (``killed``).

Past 400 lines on purpose: this is the one path, the stages and the service
that composes them, and it is meant to be read top to bottom in one place.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import dataclasses
import enum
import hashlib
import logging
import signal
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from sandbox import observability
from sandbox.artifacts import ArtifactStore, describe
from sandbox.cache import ResultCache, build_result_cache, cache_key
from sandbox.config import Settings
from sandbox.engine import (
    Backend,
    BackendSession,
    BreakerBackend,
    CollectedArtifact,
    DockerBackend,
    ImageCatalog,
    Lease,
    MeteredBackend,
    OutputCallback,
    RunSpec,
    deliver,
)
from sandbox.errors import SandboxError, SyntaxRejected, ValidationRejected
from sandbox.models import (
    LOCAL,
    Caller,
    ExecutionRecord,
    ExecutionRequest,
    ExecutionResult,
    Limits,
    SessionRequest,
    Status,
)
from sandbox.observability import metrics, tracing
from sandbox.planning import Planner, source_file, source_files
from sandbox.resilience import CircuitBreaker, KeyLimiter, Limiter
from sandbox.secrets import LazyKeyProvider, SecretStore
from sandbox.secrets.redaction import StreamRedactor, redact_file
from sandbox.secrets.use import NOTHING, Revealed, SecretAccess
from sandbox.store import RecordWriter, Store
from sandbox.validation import (
    InlineValidation,
    Policy,
    PolicySet,
    SourceFile,
    ValidationWorkers,
    Validator,
    Verdict,
    VerdictCache,
)

if TYPE_CHECKING:
    from sandbox.cluster.events import SharedEvents

log = logging.getLogger(__name__)


class Stage(enum.Enum):
    """Where an execution is; each stage method moves it one step, in this order."""

    NEW = "new"  # built from a request; nothing checked yet
    ADMITTED = "admitted"  # policy, limits and sizes checked; the caller's rate token and slot held
    VALIDATED = "validated"  # every source file passed the policy
    ACQUIRED = "acquired"  # a sandbox is held: a fresh container, or the session's interpreter
    RAN = "ran"  # a result is in: the program's outcome (or the result cache's), or why it could not run
    REDACTED = "redacted"  # secrets removed from the result (nothing to remove until secrets exist)
    RECORDED = "recorded"  # the record is written (or there is no store): the end
    REFUSED = "refused"  # admit or validate said no (or was cancelled): audited, nothing recorded


class StageOrderError(RuntimeError):
    """A stage was called out of order: a bug in the caller, never the client's fault."""


@dataclass(eq=False)
class OpenSession:
    """What a session's cells run in: its sandbox, the policy and limits fixed when it opened."""

    id: str
    language: str
    policy: Policy
    spec: RunSpec  # the opening spec: image and container-level limits
    defaults: Limits  # per-call limits asked at opening, the default of every cell
    sandbox: BackendSession
    revealed: Revealed = NOTHING  # the secrets its interpreter holds: every cell's output is redacted of them


@dataclass(frozen=True)
class Event:
    """One output event: ``stdout``/``stderr`` (a text chunk) or ``result`` (the final record)."""

    kind: str
    data: Any


class Execution:
    """One execution's life through the stages (see the module docstring).

    ``view`` is the execution as the API shows it (``running``, then ``done``);
    ``events`` keeps every output chunk (within the run's caps) and the final
    result, so a subscriber that comes late still sees everything; ``done`` is
    set when the result is in, ``saved`` once its record is written.
    """

    def __init__(
        self, service: ExecutionService, request: ExecutionRequest, caller: Caller, session: OpenSession | None = None
    ) -> None:
        self.id = uuid.uuid4().hex
        self.service = service
        self.request = request
        self.caller = caller
        self.session = session
        self.stage = Stage.NEW
        self.policy: Policy | None = None
        self.spec: RunSpec | None = None
        self.verdict: Verdict | None = None
        self.result: ExecutionResult | None = None
        #: The bytes of ``result.artifacts``, in order (None for a skipped one): stored by ``record``.
        self.artifact_contents: list[bytes | None] = []
        self.error: SandboxError | None = None
        #: The result cache's key for this run (``cache: true``, set by ``lookup``); ``hit``: answered from it.
        self.cache_key: str | None = None
        self.hit = False
        self.view = ExecutionRecord(
            id=self.id,
            state="running",
            language=request.language,
            policy=request.policy or "",
            code_sha256=hashlib.sha256(request.code.encode()).hexdigest(),
            session_id=session.id if session else None,
            created_at=datetime.now(UTC),
        )
        self.events: list[Event] = []
        # The secrets it runs with (a cell: its session's), revealed in the run stage; what comes back is redacted.
        self.revealed = session.revealed if session else NOTHING
        self.view.secrets = dict(self.revealed.versions)
        self._streams: dict[str, StreamRedactor] = {}
        self.cancel_reason = "cancelled by the caller"  # what a cancellation says (the server's shutdown too)
        self.done = asyncio.Event()
        self.saved = asyncio.Event()
        # Its span (tracing on): a child of the request's, if any; the stages' parent; ends with the execution.
        self.trace = tracing.start_execution(self.id, session_id=session.id if session else None, key=caller.name)
        # Every line it logs carries its ids and its trace's, in a stage (bound) or not (the record-write callback).
        # The request that made it too: a stage run from another task (a cancellation's) still names it.
        ids = {
            "execution_id": self.id,
            "session_id": session.id if session else None,
            "key": caller.name,
            "request_id": observability.fields().get("request_id"),
        }
        self._fields = {name: value for name, value in ids.items() if value is not None}
        if (trace_ids := tracing.ids(self.trace)) is not None:
            self._fields["trace_id"], self._fields["span_id"] = trace_ids
        self.log = logging.LoggerAdapter(log, self._fields)
        self._listeners: set[asyncio.Event] = set()
        self._release: Callable[[], None] = lambda: None

    # ------------------------------------------------------------------ stages
    async def admit(self) -> None:
        """Policy (within the caller's ceiling), limits, sizes; then the caller's rate token and slot."""
        self._expect(Stage.NEW, "admit")
        with self._stage("admit"):
            await self._admit()

    async def _admit(self) -> None:
        planner = self.service.planner
        try:
            if self.session is not None:
                policy = self.session.policy
                spec = planner.plan_cell(self.request, policy, self.session.spec, self.session.defaults)
            else:
                policy = planner.choose_policy(self.request.policy, self.caller.policy)
                spec = planner.plan(self.request, policy)
                await self.service.secret_access.check(self.caller.key_id, self.request.secrets)
            caller = self.caller
            self._release = await self.service.limiter.acquire(
                caller.key_id, caller.rate_per_min, caller.max_concurrency
            )
        except SandboxError as exc:
            await self._refuse(exc)
            raise
        except BaseException:
            self.stage = Stage.REFUSED
            raise
        self.policy, self.spec = policy, spec
        self.view.policy = policy.name
        self.view.language = self.service.catalog.language(self.request.language).name
        self.stage = Stage.ADMITTED
        self.log.debug("admitted (%s, policy %s)", self.view.language, policy.name)

    async def validate(self) -> None:
        """Every source file through the policy: the cell, or the main file and every extra file."""
        self._expect(Stage.ADMITTED, "validate")
        with self._stage("validate"):
            await self._validate()

    async def _validate(self) -> None:
        assert self.policy is not None
        language = self.service.catalog.language(self.request.language)
        try:
            files = source_files(self.request, language)
            verdict = await self.service.validate(files, language.name, self.policy, self.caller)
            if not verdict.allowed:
                error = SyntaxRejected if verdict.syntax_error else ValidationRejected
                raise error(verdict.summary(), findings=list(verdict.findings), policy=self.policy.name)
        except SandboxError as exc:
            self.release()
            await self._refuse(exc)
            raise
        except BaseException:
            self.release()
            self.stage = Stage.REFUSED
            raise
        self.verdict = verdict
        self.stage = Stage.VALIDATED

    async def lookup(self, on_output: OutputCallback | None = None) -> bool:
        """The result cache, for a one-shot run that asked for it: True on a hit, whose stored result is now
        this execution's (output published as if it ran) and which skips acquire and run.

        The findings are this request's own (validation ran); the rest is the stored result, with
        ``cached_from`` naming the execution that ran. A miss, or a cache that could not be asked
        (``bypass``), leaves the execution at ``validated`` to be run.
        """
        self._expect(Stage.VALIDATED, "lookup")
        if not self.request.cache or self.session is not None or self.request.secrets:
            return False
        assert self.spec is not None and self.policy is not None and self.verdict is not None
        with self._stage("lookup"):
            self.cache_key = cache_key(
                self.spec,
                key_id=self.caller.key_id,
                policy=self.policy.name,
                policy_version=self.policy.version,
                settings=self.service.settings,
            )
            entry = await self.service.results.lookup(self.cache_key)
        if entry is None:
            return False
        result = entry.answer()
        result.findings = list(self.verdict.findings)
        for kind, text in (("stdout", result.stdout), ("stderr", result.stderr)):
            await self._emit(kind, text, on_output)
        self.result, self.hit = result, True
        self.stage = Stage.RAN
        self.log.info("%s from the result cache (ran as %s)", result.status.value, entry.origin)
        return True

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[Lease]:
        """Hold a sandbox for the run: a fresh container (and a slot), or the session's interpreter."""
        self._expect(Stage.VALIDATED, "acquire")
        assert self.spec is not None
        held = self.session.sandbox.acquire() if self.session else self.service.backend.acquire(self.spec)
        async with contextlib.AsyncExitStack() as stack:
            with self._stage("acquire"):
                lease = await stack.enter_async_context(held)
            self.stage = Stage.ACQUIRED
            self.log.debug("acquired a sandbox (%s)", self.spec.image)
            yield lease

    async def run(self, lease: Lease, on_output: OutputCallback | None = None) -> None:
        """Run the program in the held sandbox; its output is published as it comes."""
        self._expect(Stage.ACQUIRED, "run")
        assert self.spec is not None and self.verdict is not None
        with self._stage("run") as stage:
            spec = self.spec
            if self.session is None and self.request.secrets:  # the one place a run's values are revealed
                self.revealed = await self.service.secret_access.reveal(
                    self.caller.key_id, self.request.secrets, execution=self.id
                )
                self.view.secrets = dict(self.revealed.versions)
                spec = dataclasses.replace(spec, env={**spec.env, **self.revealed.env})
            publish, flush = self._publisher(on_output)
            try:
                outcome = await lease.run(spec, publish)
            finally:
                del spec
                await flush()  # what a stream held back (a possible start of a value), also when the run failed
            stage["status"] = outcome.status.value
        if self.session is not None and self.session.sandbox.ended:
            outcome.message = (outcome.message + "; the session has ended").lstrip("; ")
        result = outcome.to_result()
        if self.session is not None:
            result.session_open = not self.session.sandbox.ended
        result.findings = list(self.verdict.findings)
        result.artifacts, self.artifact_contents = describe(outcome.artifacts)
        self.result = result
        self.stage = Stage.RAN
        self.log.info("%s in %d ms", result.status.value, result.wall_ms)

    def redact(self) -> None:
        """Replace the run's secret values (and their encodings) in the result: before anyone sees it."""
        self._expect(Stage.RAN, "redact")
        redactor = self.revealed.redactor
        if redactor and self.result is not None:
            result = self.result
            result.stdout, result.stderr = redactor.redact(result.stdout), redactor.redact(result.stderr)
            result.message = redactor.redact(result.message)
            for case in result.tests or ():
                case.stdout, case.stderr = redactor.redact(case.stdout), redactor.redact(case.stderr)
                case.message = redactor.redact(case.message)
            if result.compile is not None:
                result.compile.output = redactor.redact(result.compile.output)
                result.compile.message = redactor.redact(result.compile.message)
            for index, data in enumerate(self.artifact_contents):  # text files; binary formats are documented
                redacted = redact_file(data, redactor) if data is not None else None
                if redacted != data and redacted is not None:
                    entries, _ = describe([CollectedArtifact(result.artifacts[index].name, len(redacted), redacted)])
                    result.artifacts[index] = entries[0]
                    self.artifact_contents[index] = redacted
        self.stage = Stage.REDACTED

    async def record(self) -> None:
        """Publish the result (the ``record`` stage: the door answers now), then write the record.

        The write is batched with others (``RecordWriter``) and awaited outside the stage: the
        stage's time is the execution's own, not the batch's wait.
        """
        self._expect(Stage.REDACTED, "record")
        with self._stage("record") as stage:
            stage["status"] = self.result.status.value if self.result else None
            await self._store_artifacts()
            self._publish_result()
        writing = asyncio.ensure_future(self.service.save(self.view, self.caller.key_id))
        writing.add_done_callback(self._written)
        with contextlib.suppress(SandboxError):  # logged by _written; the result stands
            await asyncio.shield(writing)  # a cancelled caller does not stop the write; `saved` waits for it

    async def _store_artifacts(self) -> None:
        """Keep the artifacts' bytes where ``GET .../artifacts/{name}`` finds them, before anyone is told
        of the result; a store that fails marks them skipped (the result stands)."""
        store = self.service.artifacts
        if store is None or self.result is None or not any(d is not None for d in self.artifact_contents):
            return
        try:
            await store.save(self.id, self.artifact_contents)
        except OSError as exc:
            self.log.error("could not store the artifacts: %s", exc)
            for index, entry in enumerate(self.result.artifacts):
                if entry.skipped is None:
                    reason = f"could not be stored on the server: {exc.strerror or exc}"
                    self.result.artifacts[index] = entry.model_copy(update={"skipped": reason, "sha256": None})

    def _publish_result(self) -> None:
        assert self.result is not None
        result = self.result
        done = {
            **dict(result),  # already-validated values: copied into the view, not validated again
            "state": "done",
            "stdout_bytes": len(result.stdout.encode()),
            "stderr_bytes": len(result.stderr.encode()),
            "finished_at": datetime.now(UTC),
        }
        self.view = self.view.model_copy(update=done)
        self._publish(Event("result", self.view))
        self.done.set()
        self.stage = Stage.RECORDED

    # -------------------------------------------------------------- sequences
    async def prepare(self) -> None:
        """admit -> validate: every refusal, before any sandbox is touched."""
        await self.admit()
        await self.validate()

    async def finish(self, on_output: OutputCallback | None = None) -> None:
        """[lookup] -> acquire -> run -> redact -> record; a failure or a cancellation becomes the recorded result.

        A cancelled execution is recorded as ``killed`` and the cancellation goes on. A run that
        missed the result cache offers its result to it before publishing it (``ResultCache.remember``
        keeps only the program's own verdicts), so that the caller's next identical request finds it.
        """
        self._expect(Stage.VALIDATED, "finish")
        cancelled: asyncio.CancelledError | None = None
        try:
            if not await self.lookup(on_output):
                async with self.acquire() as lease:
                    await self.run(lease, on_output)
        except asyncio.CancelledError as exc:
            cancelled = exc
            self._failed(self._cancelled_result())
            self.log.info("killed: %s", self.cancel_reason)
        except SandboxError as exc:
            if self.revealed.redactor:  # the error goes to the door and the logs: a runner's diagnostics quote output
                exc.message = self.revealed.redactor.redact(exc.message)
                exc.args = (exc.message,)
            self.error = exc
            self._failed(error_result(exc))
            if exc.status is Status.INTERNAL_ERROR:
                self.log.error("could not run: %s", exc.message)
            else:
                self.log.info("could not run (%s): %s", exc.status.value, exc.message)
        except Exception:
            self.log.exception("execution failed")
            self._failed(error_result(None))
        finally:
            self.release()
        self.redact()
        late: asyncio.CancelledError | None = None
        if self.cache_key is not None and not self.hit and cancelled is None and self.result is not None:
            try:  # before the result is published: the caller's next identical request finds it
                await self._remember(self.cache_key, self.result)
            except asyncio.CancelledError as exc:  # the result is in: it is recorded, then the cancellation goes on
                late = exc
        await self.record()
        if cancelled is not None:
            await self.service.audit("execution.cancelled", self.caller.key_id, execution=self.id)
            raise cancelled
        if late is not None:
            raise late

    async def _remember(self, key: str, result: ExecutionResult) -> None:
        """Offer the run's result to the cache; a failure here is logged, never the execution's."""
        try:
            outcome = await self.service.results.remember(key, self.id, result)
        except Exception:
            self.log.exception("could not offer the result to the result cache")
            return
        self.log.debug("result cache: %s", outcome)

    async def abandon(self) -> None:
        """Finish an execution whose task was cancelled before it took its first step."""
        if self.stage is Stage.VALIDATED:
            self.release()
            self._failed(self._cancelled_result())
            self.redact()
            await self.record()
            await self.service.audit("execution.cancelled", self.caller.key_id, execution=self.id)

    def release(self) -> None:
        """Give back the caller's concurrency slot (idempotent)."""
        self._release()
        self._release = lambda: None

    async def stream(self, after: int = 0) -> AsyncIterator[Event]:
        """Every event past the first ``after`` (0: from the first), then live ones, until the result.

        An event's position in ``events`` never changes, so it is the event's id for a client that
        reconnects (SSE ``Last-Event-ID``): resuming after the result yields nothing and ends.
        """
        sent = after
        while True:
            while sent < len(self.events):
                event = self.events[sent]
                sent += 1
                yield event
                if event.kind == "result":
                    return
            if self.done.is_set():  # the result was among the first ``after``: nothing more comes
                return
            more = asyncio.Event()
            self._listeners.add(more)
            try:
                await more.wait()
            finally:
                self._listeners.discard(more)

    # ------------------------------------------------------------------ private
    def _stage(self, name: str) -> AbstractContextManager[dict[str, Any]]:
        """One stage through the telemetry hook, with this execution's ids bound to its log lines."""
        hook = observability.stage(
            name,
            language=self.request.language,
            policy=self.view.policy or None,
            parent=self.trace,
            fields=self._fields,
        )
        return hook if self.trace is None else self._traced(hook)

    @contextlib.contextmanager
    def _traced(self, hook: observability.stage) -> Iterator[dict[str, Any]]:
        """Tracing on: the stage's span is a child of the execution's, which ends once the
        execution is recorded or refused (its spans are made a moment later: ``tracing.later``)."""
        error: BaseException | None = None
        try:
            with hook as outcome:
                yield outcome
        except BaseException as exc:
            error = exc
            raise
        finally:
            if self.trace is not None and self.stage in (Stage.RECORDED, Stage.REFUSED):
                status = self.view.status.value if self.stage is Stage.RECORDED and self.view.status else None
                language, policy = self.view.language, self.view.policy or None
                tracing.end_execution(self.trace, status, error, language=language, policy=policy)
                self.trace = None

    def _expect(self, stage: Stage, action: str) -> None:
        if self.stage is not stage:
            raise StageOrderError(
                f"execution {self.id}: cannot {action} in stage {self.stage.value!r}; it must be {stage.value!r}"
            )

    def _failed(self, result: ExecutionResult) -> None:
        """The run did not produce an outcome: ``result`` says why (kept if the outcome came first)."""
        if self.stage not in (Stage.VALIDATED, Stage.ACQUIRED):
            return
        result.stdout = "".join(e.data for e in self.events if e.kind == "stdout")
        result.stderr = "".join(e.data for e in self.events if e.kind == "stderr")
        self.result = result
        self.stage = Stage.RAN

    def _written(self, writing: asyncio.Future[None]) -> None:
        if not writing.cancelled() and writing.exception() is not None:
            self.log.error("could not write the record: %s", writing.exception())
        self.saved.set()

    def _cancelled_result(self) -> ExecutionResult:
        ran = self.stage is Stage.ACQUIRED
        return ExecutionResult(
            status=Status.KILLED,
            signal=signal.SIGKILL if ran else None,
            wall_ms=int((datetime.now(UTC) - self.view.created_at).total_seconds() * 1000),
            message=f"{self.cancel_reason}; the container was killed" if ran else self.cancel_reason,
        )

    async def _refuse(self, exc: SandboxError) -> None:
        self.stage = Stage.REFUSED
        self.log.info("refused (%s): %s", exc.status.value, exc.message[:300])
        await self.service.audit(
            "execution.rejected", self.caller.key_id, status=exc.status.value, reason=exc.message[:300]
        )

    def _publisher(self, on_output: OutputCallback | None) -> tuple[OutputCallback, Callable[[], Awaitable[None]]]:
        """What the run calls with each output chunk, and what to call once it is over.

        One incremental decoder per stream: a chunk may end in the middle of a character. With
        secrets, one stream redactor per stream too: a value split across chunks is still caught
        (it holds back a possible start of one until the next chunk or the end), and ``on_output``
        (MCP progress) gets the redacted text, never the raw bytes.
        """
        decoders = {kind: codecs.getincrementaldecoder("utf-8")(errors="replace") for kind in ("stdout", "stderr")}
        redactor = self.revealed.redactor
        self._streams = {kind: redactor.stream() for kind in decoders} if redactor else {}

        async def publish(kind: str, chunk: bytes) -> None:
            text = decoders[kind].decode(chunk)
            if self._streams:
                await self._emit(kind, self._streams[kind].feed(text), on_output)
                return
            if text:
                self._publish(Event(kind, text))
            await deliver(on_output, kind, chunk)

        async def flush() -> None:
            for kind, stream in self._streams.items():
                await self._emit(kind, stream.feed(decoders[kind].decode(b"", final=True)) + stream.flush(), on_output)

        return publish, flush

    async def _emit(self, kind: str, text: str, on_output: OutputCallback | None) -> None:
        if text:
            self._publish(Event(kind, text))
            await deliver(on_output, kind, text.encode())

    def _publish(self, event: Event) -> None:
        self.events.append(event)
        for listener in self._listeners:
            listener.set()


class ExecutionService:
    """The composition the doors share: planner, validator, backend, limiter, store."""

    def __init__(
        self,
        settings: Settings,
        backend: Backend,
        catalog: ImageCatalog,
        policies: PolicySet,
        *,
        store: Store | None = None,
        warm: bool = True,
        validator: Validator | None = None,
        workers: ValidationWorkers | None = None,
        results: ResultCache | None = None,
    ) -> None:
        self.settings = settings
        self.backend = backend
        self.catalog = catalog
        self.policies = policies
        self.store = store
        self.records = RecordWriter(store) if store is not None else None
        # Artifacts are kept where records are: a server's state directory (the CLI keeps them in memory).
        retention_s = settings.artifacts_retention_h * 3600
        self.artifacts = ArtifactStore(settings.state_dir / "artifacts", retention_s) if store is not None else None
        self._sweeper: asyncio.Task[None] | None = None
        vault = SecretStore(store, LazyKeyProvider(settings)) if store is not None else None
        self.secret_access = SecretAccess(vault, self.audit)
        self.planner = Planner(settings, catalog, policies)
        self.limiter = build_limiter(settings)
        #: The opt-in result cache: this process's memory, or Redis (shared by every replica) when configured.
        self.results = results if results is not None else build_result_cache(settings)
        # In-process validation (no workers): the CLI, tests.
        self.validator = validator or Validator(
            cache_bytes=settings.validation_cache_mb << 20, max_findings=settings.validation_max_findings
        )
        self.validation = workers or InlineValidation(self.validator, policies, settings.validation_timeout_s)
        names = {alias: spec.name for spec in catalog.languages.values() for alias in (spec.name, *spec.aliases)}
        observability.metrics.known_names(names, policies.policies)  # metric labels carry only names we know
        self._warm = warm
        self._closed = False
        #: Scale-out: every execution's events mirrored to Redis, readable through every replica.
        self.shared_events: SharedEvents | None = None

    async def __aenter__(self) -> ExecutionService:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Check that every stored secret can be unwrapped, start the backend, load bandit, and,
        if asked, warm a pool per configured language.

        If any of it fails, what did start is closed again before the error goes on: a server
        whose KEK is missing or wrong refuses to start rather than fail each run that needs one.
        """
        try:
            if self.secret_access.vault is not None:
                await asyncio.to_thread(self.secret_access.vault.verify)
            await self.validation.start()
            await self.backend.start()
            if self._warm and self.settings.pool_size > 0:
                for language, bounds in self.planner.pool_bounds().items():
                    self.backend.warm(self.planner.default_profile(language), bounds)
            if self.artifacts is not None:
                self._sweeper = asyncio.create_task(self._sweep_artifacts(self.artifacts))
        except BaseException:
            await self.aclose()
            raise

    async def _sweep_artifacts(self, store: ArtifactStore) -> None:
        """Remove artifacts past their retention: at start, then every quarter of the retention (10 min at most)."""
        period = min(store.retention_s / 4, 600.0)
        while True:
            try:
                await store.sweep()
            except Exception:
                log.exception("sweeping old artifacts failed")
            await asyncio.sleep(period)

    async def aclose(self) -> None:
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        await self.backend.aclose()
        if self.shared_events is not None:
            await self.shared_events.aclose()
        await self.validation.aclose()
        if self.records is not None:
            await self.records.aclose()
        await self.limiter.aclose()
        await self.results.aclose()

    async def readiness(self) -> dict[str, object]:
        """Engine reachable (scale-out: a worker alive), breaker not open, warm pools filled, the database
        answering: what `/readyz` reports."""
        report: dict[str, object] = {"ready": True, "engine": "ok", "pools": {}}
        try:
            await self.backend.ping()
        except SandboxError as exc:
            report.update(ready=False, engine=exc.message)
        if self.store is not None:  # replicas of a cluster share it: one that cannot reach it is not ready
            try:
                await asyncio.to_thread(self.store.count_keys)
                report["database"] = "ok"
            except SandboxError as exc:
                report.update(ready=False, database=exc.message)
        conditions = self.backend.conditions()
        report.update(conditions)
        if conditions.get("breaker") == "open":  # half-open is ready: only traffic can probe and close it
            report["ready"] = False
        pools = self.backend.pools()
        report["pools"] = {pool.name: {"ready": pool.ready, "target": pool.target} for pool in pools}
        if not self.backend.remote and any(pool.ready == 0 and pool.minimum > 0 for pool in pools):
            report["ready"] = False  # a replica's are its workers': not its own readiness
        return report

    # --------------------------------------------------------------- executions
    def execution(
        self, request: ExecutionRequest, caller: Caller = LOCAL, session: OpenSession | None = None
    ) -> Execution:
        """A new execution of ``request`` for ``caller`` (a cell of ``session`` if given), at ``Stage.NEW``."""
        if self._closed:
            raise RuntimeError("the service is closed")  # a bug in the caller, not a refusal
        return Execution(self, request, caller, session)

    async def execute(
        self, request: ExecutionRequest, *, caller: Caller = LOCAL, on_output: OutputCallback | None = None
    ) -> ExecutionResult:
        """Every stage inline; raises ``SandboxError`` when the program was refused or could not run."""
        execution = await self.run(request, caller=caller, on_output=on_output)
        assert execution.result is not None
        return execution.result

    async def run(
        self, request: ExecutionRequest, *, caller: Caller = LOCAL, on_output: OutputCallback | None = None
    ) -> Execution:
        """``execute``, answering the whole execution: its result and its artifacts' bytes (``artifact_contents``)."""
        execution = self.execution(request, caller)
        await execution.prepare()
        await execution.finish(on_output)
        if execution.error is not None:
            raise execution.error
        return execution

    async def check(self, request: ExecutionRequest, *, caller: Caller = LOCAL) -> Verdict:
        """Validation only (the `validate` doors): policy and caps are checked, nothing runs.

        It takes a token of the caller's rate like an execution: validation costs CPU (up to
        its timeout) that an unlimited door would let one key spend for everyone.
        """
        policy = self.planner.choose_policy(request.policy, caller.policy)
        self.planner.plan(request, policy)
        await self.limiter.take(caller.key_id, caller.rate_per_min)
        language = self.catalog.language(request.language)
        return await self.validate(source_files(request, language), language.name, policy, caller)

    async def validate(self, files: list[SourceFile], language: str, policy: Policy, caller: Caller = LOCAL) -> Verdict:
        """The validation pipeline, in a worker process (or a thread); fails closed on timeout.

        Workers are shared fairly between keys, and CPU time past ``validation_free_cpu_s`` is
        charged to the caller's rate (a token per ``validation_cpu_s_per_token``): a key sending
        expensive programs runs out of its rate, not the other keys' validation workers.
        """
        verdict = await self.validation.validate(files, language, policy, caller.key_id)
        observability.metrics.validated(verdict.status.value, cached=verdict.cached)
        settings = self.settings
        extra = (verdict.cpu_s - settings.validation_free_cpu_s) / settings.validation_cpu_s_per_token
        await self.limiter.charge(caller.key_id, caller.rate_per_min, extra)
        return verdict

    # ----------------------------------------------------------------- sessions
    async def open_session(self, request: SessionRequest, caller: Caller, session_id: str) -> OpenSession:
        """Policy, limits and the initial files checked and validated, then a dedicated sandbox."""
        policy = self.planner.choose_policy(request.policy, caller.policy)
        spec = self.planner.plan_session(request, policy)
        language = self.catalog.language(request.language)
        files = [source_file(f.path, f.data, language) for f in spec.files]
        await self.secret_access.check(caller.key_id, request.secrets)
        await self._deny_unless_allowed(files, language.name, policy, caller)
        # The one place a session's values are revealed: into the message that starts its interpreter.
        revealed = await self.secret_access.reveal(caller.key_id, request.secrets, session=session_id)
        opening = dataclasses.replace(spec, env={**spec.env, **revealed.env}) if revealed.env else spec
        sandbox = await self.backend.open_session(opening, self.settings.session_max_lifetime_s)
        del opening
        return OpenSession(session_id, language.name, policy, spec, request.limits, sandbox, revealed)

    async def upload(self, session: OpenSession, path: str, data: bytes, caller: Caller = LOCAL) -> None:
        """A file into an open session, validated like the files of a request (a program file is one)."""
        source = self.planner.plan_upload(session.language, path, data)
        await self._deny_unless_allowed([source], session.language, session.policy, caller)
        await session.sandbox.put_file(path, data)

    async def _deny_unless_allowed(
        self, files: list[SourceFile], language: str, policy: Policy, caller: Caller
    ) -> None:
        verdict = await self.validate(files, language, policy, caller)
        if not verdict.allowed:
            error = SyntaxRejected if verdict.syntax_error else ValidationRejected
            raise error(verdict.summary(), findings=list(verdict.findings), policy=policy.name)

    # -------------------------------------------------------------- persistence
    async def save(self, record: ExecutionRecord, key_id: str | None, *, urgent: bool = False) -> None:
        """Write ``record`` (batched with others; ``urgent``: a caller is waiting on it to answer)."""
        if self.records is not None:
            await self.records.save(record, key_id, urgent=urgent)

    def flush_records(self) -> None:
        """Write queued records now: a reader is about to look for them in the store."""
        if self.records is not None:
            self.records.flush()

    async def audit(self, event: str, key_id: str | None, **detail: Any) -> None:
        """Append to the audit log (never raises: a failed audit write is logged)."""
        if self.store is None:
            return
        try:
            await asyncio.to_thread(self.store.audit, event, key_id, **detail)
        except SandboxError as exc:
            log.error("could not audit %s: %s", event, exc.message)


def build_limiter(settings: Settings) -> Limiter:
    """Rate and concurrency per key: in Redis (shared by every replica) with ``redis_url``, else in this process."""
    if settings.redis_url is None:
        return KeyLimiter()
    from sandbox.resilience.shared_limits import RedisKeyLimiter  # redis is imported only when it is used

    return RedisKeyLimiter.from_settings(settings)


def error_result(exc: SandboxError | None) -> ExecutionResult:
    """A result-shaped answer for a refusal or a failure (``None``: an unexpected one, no details)."""
    if exc is None:
        return ExecutionResult(status=Status.INTERNAL_ERROR, message="internal error")
    findings = exc.findings if isinstance(exc, ValidationRejected) else []
    return ExecutionResult(status=exc.status, message=exc.message, findings=findings)


def build_service(
    settings: Settings,
    *,
    store: Store | None = None,
    warm: bool = True,
    backend: Backend | None = None,
    start_without_engine: bool = False,
    local_engine: bool = False,
    results: ResultCache | None = None,
) -> ExecutionService:
    """Compose the service: the Docker backend (unless ``backend`` is given) behind the circuit breaker,
    validation workers, the store.

    ``store``: where records and the audit log go (none for the CLI). ``start_without_engine``
    (servers): an engine that does not answer at start-up opens the breaker instead of failing
    the start; the server answers 503 until the engine does.

    With ``SANDBOX_REDIS_URL`` set, a server's runs go to `sandbox worker`s (``DispatchBackend``,
    scale-out) and everything above the backend stays the same; ``local_engine`` (the worker
    itself, and the CLI) keeps the engine in this process. ``results``: the result cache (default:
    ``build_result_cache(settings)``).
    """
    metrics.enable(settings.metrics)
    catalog = ImageCatalog(settings.images_dir, settings.image_prefix)
    policies = PolicySet(settings.policies_dir, settings.default_policy)
    workers = None
    if settings.validation_workers:
        workers = ValidationWorkers(
            settings.policies_dir,
            settings.default_policy,
            size=settings.validation_workers,
            timeout_s=settings.validation_timeout_s,
            cache=VerdictCache(max_bytes=settings.validation_cache_mb << 20),
            max_findings=settings.validation_max_findings,
        )
    breaker = CircuitBreaker(
        "Docker engine",
        failures=settings.breaker_failures,
        open_s=settings.breaker_open_s,
        probes=settings.breaker_probes,
        on_change=lambda old, new: metrics.breaker_changed(old.value, new.value),
    )
    if backend is None and settings.redis_url and not local_engine:
        from sandbox.cluster.dispatch import DispatchBackend, connect  # redis-py only where scale-out is configured
        from sandbox.cluster.events import SharedEvents

        service = ExecutionService(
            settings,
            DispatchBackend(settings),
            catalog,
            policies,
            store=store,
            warm=warm,
            workers=workers,
            results=results,
        )
        service.shared_events = SharedEvents(connect(settings))
        return service
    engine = MeteredBackend(
        BreakerBackend(backend or DockerBackend(settings), breaker, start_without_engine=start_without_engine)
    )
    return ExecutionService(
        settings, engine, catalog, policies, store=store, warm=warm, workers=workers, results=results
    )
