"""The one orchestration path every door calls: admit -> validate -> run -> result.

Doors (CLI, REST, MCP) build an ``ExecutionRequest`` and call
``ExecutionService.execute``; nothing below this module knows which door asked.
Program failures come back as ``ExecutionResult`` statuses; refusals and our own
failures are ``SandboxError`` exceptions, which each door turns into a response
in one place (``error_result`` gives the result-shaped form).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType

from sandbox.config import Settings
from sandbox.engine import (
    Backend,
    DockerBackend,
    ImageCatalog,
    LanguageSpec,
    OutputCallback,
    RunFile,
    RunOutcome,
    RunSpec,
)
from sandbox.errors import PayloadTooLarge, RequestRejected, SandboxError, SyntaxRejected, ValidationRejected
from sandbox.limits import resolve_limits
from sandbox.models import ExecutionRequest, ExecutionResult, Finding, Limits, Status
from sandbox.validation import Policy, PolicySet, SourceFile, ValidationWorkers, Validator, Verdict, warm_up

log = logging.getLogger(__name__)


class ExecutionService:
    """Admits, validates and runs executions on a backend."""

    def __init__(
        self,
        settings: Settings,
        backend: Backend,
        catalog: ImageCatalog,
        policies: PolicySet,
        *,
        warm: bool = True,
        validator: Validator | None = None,
        workers: ValidationWorkers | None = None,
    ) -> None:
        self.settings = settings
        self.backend = backend
        self.catalog = catalog
        self.policies = policies
        self.validator = validator or Validator()
        self.workers = workers
        self._warm = warm
        # Bounded: a flood of pathological sources queues here, never grows threads.
        self._validation_threads = ThreadPoolExecutor(max_workers=2, thread_name_prefix="validate")

    async def __aenter__(self) -> ExecutionService:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Start the backend, load bandit, and, if asked, warm a pool per configured language."""
        if self.workers is not None:
            await self.workers.start()
        else:
            await asyncio.to_thread(warm_up, self.policies.get(None).bandit)
        await self.backend.start()
        if self._warm and isinstance(self.backend, DockerBackend) and self.settings.pool_size > 0:
            for language in self.settings.pool_languages:
                self.backend.warm(self.default_profile(language))

    async def readiness(self) -> dict[str, object]:
        """Engine reachable and warm pools filled: what `/readyz` reports."""
        report: dict[str, object] = {"ready": True, "engine": "ok", "pools": {}}
        try:
            await self.backend.ping()
        except SandboxError as exc:
            report.update(ready=False, engine=exc.message)
        if isinstance(self.backend, DockerBackend):
            pools = {pool.name: {"ready": pool.stats.ready, "size": pool.size} for pool in self.backend.pools.values()}
            report["pools"] = pools
            if any(p["ready"] == 0 and p["size"] > 0 for p in pools.values()):
                report["ready"] = False
        return report

    async def aclose(self) -> None:
        await self.backend.aclose()
        if self.workers is not None:
            await self.workers.aclose()
        self._validation_threads.shutdown(wait=False, cancel_futures=True)

    def default_profile(self, language: str) -> tuple[str, int, int, int, float]:
        """The warm-pool key of a request for ``language`` with default limits and policy."""
        policy = self.policies.get(None)
        limits = resolve_limits(Limits(), self.settings, policy.limits.defaults, policy.limits.maxima)
        return (
            self.catalog.image_tag(language),
            limits.memory_mb,
            limits.processes,
            limits.workdir_mb,
            self.settings.cpus,
        )

    def prepare(self, request: ExecutionRequest, policy: Policy | None = None) -> RunSpec:
        """Check a request against the server's and the policy's caps; turn it into a ``RunSpec``."""
        language = self.catalog.language(request.language)
        policy = policy or self.policies.get(request.policy)
        limits = resolve_limits(request.limits, self.settings, policy.limits.defaults, policy.limits.maxima)
        main = request.code.encode()
        stdin = request.stdin.encode()
        files = [RunFile(language.main_file, main)]
        files.extend(RunFile(extra.path, extra.data()) for extra in request.files)
        check_file_layout([f.path for f in files], language.main_file)
        size = sum(len(f.data) for f in files) + len(stdin) + sum(len(a.encode()) for a in request.args)
        if size > self.settings.request_bytes:
            raise PayloadTooLarge(
                f"code, files and stdin total {size} bytes, over the server cap of {self.settings.request_bytes}"
            )
        restricted = language.mode == "python" and policy.python.restricted_python
        return RunSpec(
            image=self.catalog.image_tag(language.name),
            mode="restricted" if restricted else language.mode,
            allowed_modules=tuple(policy.python.modules.allow or ()) if restricted else (),
            argv=(*language.argv, *request.args),
            files=tuple(files),
            limits=limits,
            stdin=stdin,
            nofile=self.settings.nofile,
            cpus=self.settings.cpus,
        )

    async def validate(self, request: ExecutionRequest, policy: Policy | None = None) -> Verdict:
        """Run the validation pipeline on every file of ``request``; fail closed on timeout."""
        language = self.catalog.language(request.language)
        policy = policy or self.policies.get(request.policy)
        files = source_files(request, language)
        if self.workers is not None:
            return await self.workers.validate(files, language.name, policy)
        loop = asyncio.get_running_loop()
        job = loop.run_in_executor(self._validation_threads, self.validator.validate, files, language.name, policy)
        try:
            return await asyncio.wait_for(job, timeout=self.settings.validation_timeout_s)
        except TimeoutError:
            finding = Finding(
                rule_id="validator.timeout",
                message=f"validation took longer than {self.settings.validation_timeout_s:g} s",
                source="policy",
            )
            return Verdict(False, (finding,), policy.name, policy.version)

    def choose_policy(self, requested: str | None, ceiling: str | None = None) -> Policy:
        """The request's policy; with ``ceiling`` (a key's tier), never a looser one than it."""
        policy = self.policies.get(requested or ceiling)
        if ceiling is not None:
            limit = self.policies.get(ceiling)
            if policy.strictness < limit.strictness:
                raise RequestRejected(
                    f"policy {policy.name!r} is looser than this key's tier {limit.name!r}; "
                    f"ask for {limit.name!r} or a stricter one"
                )
        return policy

    async def check(self, request: ExecutionRequest, ceiling: str | None = None) -> Verdict:
        """Validation only (the `validate` doors): policy and caps are checked, nothing runs."""
        policy = self.choose_policy(request.policy, ceiling)
        self.prepare(request, policy)
        return await self.validate(request, policy)

    async def admit(self, request: ExecutionRequest, ceiling: str | None = None) -> Admitted:
        """Every check before a container is touched: policy, limits, sizes, validation.

        Denied code raises ``ValidationRejected`` (``SyntaxRejected`` for code that
        does not parse) with the findings.
        """
        policy = self.choose_policy(request.policy, ceiling)
        spec = self.prepare(request, policy)
        verdict = await self.validate(request, policy)
        if not verdict.allowed:
            error = SyntaxRejected if verdict.syntax_error else ValidationRejected
            log.info("rejected by %s: %s", policy.name, verdict.summary())
            raise error(verdict.summary(), findings=list(verdict.findings), policy=policy.name)
        return Admitted(request, policy, spec, verdict)

    async def run(self, admitted: Admitted, on_output: OutputCallback | None = None) -> ExecutionResult:
        """Run an admitted request in a fresh container."""
        execution_id = uuid.uuid4().hex[:12]
        log.info("execution %s: running %s in %s", execution_id, admitted.request.language, admitted.spec.image)
        outcome = await self.backend.run(admitted.spec, on_output)
        log.info("execution %s: %s in %d ms", execution_id, outcome.status.value, outcome.wall_ms)
        result = to_result(outcome)
        result.findings = list(admitted.verdict.findings)
        return result

    async def execute(self, request: ExecutionRequest, on_output: OutputCallback | None = None) -> ExecutionResult:
        """Admit and run ``request`` once; raises ``SandboxError`` only when it did not run."""
        return await self.run(await self.admit(request), on_output)


@dataclass(frozen=True)
class Admitted:
    """A request that passed every check, ready to run."""

    request: ExecutionRequest
    policy: Policy
    spec: RunSpec
    verdict: Verdict


def source_files(request: ExecutionRequest, language: LanguageSpec) -> list[SourceFile]:
    """The request's files as the validator sees them: the main file first."""
    files = [SourceFile(language.main_file, request.code)]
    for extra in request.files:
        text = extra.data().decode("utf-8", errors="surrogateescape")
        files.append(SourceFile(extra.path, text, program=extra.path.endswith(language.source_suffixes)))
    return files


def check_file_layout(paths: list[str], main_file: str) -> None:
    """Reject a path given twice, or used both as a file and as a directory."""
    seen: set[str] = set()
    directories: set[str] = set()
    for path in paths:
        parents = {"/".join(path.split("/")[:i]) for i in range(1, path.count("/") + 1)}
        if path in seen:
            raise RequestRejected(f"file {path!r} given twice (the code is {main_file})")
        if path in directories or parents & seen:
            clash = path if path in directories else sorted(parents & seen)[0]
            raise RequestRejected(f"{clash!r} is used both as a file and as a directory")
        seen.add(path)
        directories |= parents


def to_result(outcome: RunOutcome) -> ExecutionResult:
    """The public result of a run; output is decoded as UTF-8 with replacement."""
    return ExecutionResult(
        status=outcome.status,
        exit_code=outcome.exit_code,
        signal=outcome.signal,
        stdout=outcome.stdout.decode("utf-8", errors="replace"),
        stderr=outcome.stderr.decode("utf-8", errors="replace"),
        stdout_truncated=outcome.stdout_truncated,
        stderr_truncated=outcome.stderr_truncated,
        wall_ms=outcome.wall_ms,
        cpu_ms=outcome.cpu_ms,
        peak_memory_bytes=outcome.peak_memory_bytes,
        message=outcome.message,
    )


def error_result(exc: BaseException) -> ExecutionResult:
    """A result-shaped answer for a refusal or an internal failure."""
    if isinstance(exc, ValidationRejected):
        return ExecutionResult(status=exc.status, message=exc.message, findings=exc.findings)
    if isinstance(exc, SandboxError):
        return ExecutionResult(status=exc.status, message=exc.message)
    return ExecutionResult(status=Status.INTERNAL_ERROR, message="internal error")


def build_service(settings: Settings, *, warm: bool = True) -> ExecutionService:
    """Compose the service on the real Docker backend."""
    catalog = ImageCatalog(settings.images_dir, settings.image_prefix)
    policies = PolicySet(settings.policies_dir, settings.default_policy)
    workers = None
    if settings.validation_workers:
        workers = ValidationWorkers(
            settings.policies_dir,
            settings.default_policy,
            size=settings.validation_workers,
            timeout_s=settings.validation_timeout_s,
        )
    return ExecutionService(settings, DockerBackend(settings), catalog, policies, warm=warm, workers=workers)
