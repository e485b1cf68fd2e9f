"""``DockerSession``: one open session, a dedicated container whose interpreter keeps its state.

The runner keeps one interpreter per session container (see the runner's
session protocol). The session holds one of the backend's execution slots from
its opening to its end (its container counts against ``max_concurrency`` like
a run's), and one call at a time: a cell or a file operation holds the
session's lock. Between calls the runner keeps every process of the program
stopped, and it holds the session to its lifetime CPU budget. A cell past its
wall limit is interrupted first (``KeyboardInterrupt`` in the interpreter): if
it reports back within ``interrupt_grace_s`` it answers ``timeout`` and the
session goes on with its state. A cell that times out otherwise, overflows a
cap, kills the interpreter, passes the CPU budget or writes to the
interpreter's result pipe ends the session, and so does a lost connection; the
container is removed then. ``list_files`` lists the workdir (the runner's
``list``), untrusted like every answer: checked entry by entry, bounded.

The program shares the interpreter with the session's protocol, so it can break
it (exit between calls, close or write the interpreter's pipes, forge its
reply). Whatever it breaks, it breaks only its own session: the session ends
and the call is answered ``NotFound("the session has ended: ...")``, never as
our failure. Closing a session does not wait for a running cell: the cell is
killed with the container and answers ``killed``.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import logging
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress

from sandbox.engine.base import BackendSession, Lease
from sandbox.engine.channel import RunnerChannel
from sandbox.engine.docker import Container
from sandbox.engine.protocol import RunnerReport, encode_message, runner_limits
from sandbox.engine.spec import OutputCallback, RunOutcome, RunSpec
from sandbox.errors import EngineError, NotFound, RequestRejected
from sandbox.models import SessionFile, SessionFiles, Status

log = logging.getLogger(__name__)

#: Statuses after which the interpreter is known to be intact; any other ends the session (but a
#: timeout the interpreter answered its interrupt for: ``RunnerReport.interrupted``).
SURVIVABLE = (Status.OK, Status.RUNTIME_ERROR)
#: The most entries a workdir listing has (the runner's cap too), and the longest path kept in one.
LIST_MAX_ENTRIES = 1000
LIST_MAX_PATH = 4096


class DockerSession(BackendSession):
    """See the module docstring."""

    def __init__(
        self,
        container: Container,
        channel: RunnerChannel,
        *,
        cpu_budget_s: int,
        on_end: Callable[[DockerSession], None],
        interrupt_grace_s: float = 0.0,
    ) -> None:
        self.container = container
        self._channel = channel
        self.cpu_budget_s = cpu_budget_s
        self.interrupt_grace_s = interrupt_grace_s
        self._on_end = on_end
        self._lock = asyncio.Lock()
        self._ended = False
        self._closing = False  # close() was called: a running cell is being killed, not lost

    @property
    def ended(self) -> bool:
        return self._ended

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[Lease]:
        async with self._lock:
            self._check_open()
            yield _Cell(self)

    async def put_file(self, path: str, data: bytes) -> None:
        async with self._lock:
            self._check_open()
            await self._call({"op": "put", "path": path, "data": base64.b64encode(data).decode()})

    async def get_file(self, path: str) -> bytes:
        async with self._lock:
            self._check_open()
            return await self._call({"op": "get", "path": path})

    async def list_files(self) -> SessionFiles:
        async with self._lock:
            self._check_open()
            answer = await self._call({"op": "list", "max_entries": LIST_MAX_ENTRIES})
        return _listing(answer)

    async def close(self) -> None:
        self._closing = True
        if self._lock.locked():
            # A call is running: kill the container rather than wait for the call. Its end of the
            # stream then closes and the call finishes at once (closing our socket would not wake
            # it: a closed descriptor just leaves the event loop's poll set).
            await self.container.kill()
            return
        async with self._lock:
            if not self._ended:
                with suppress(OSError):
                    await self._channel.send(encode_message({"op": "close"}))
                self._end()

    # ------------------------------------------------------------------ private
    async def run_cell(self, spec: RunSpec, on_output: OutputCallback | None) -> RunOutcome:
        """Run ``spec.files[0]`` as a cell (the caller holds the lock, through ``acquire``)."""
        self._check_open()
        code = spec.files[0].data.decode("utf-8", errors="surrogateescape")
        grace_ms = int(self.interrupt_grace_s * 1000)
        limits = {**runner_limits(spec), "interrupt_grace_ms": grace_ms}
        body: dict[str, object] = {"op": "exec", "code": code, "limits": limits}
        if spec.artifacts is not None:
            body["artifacts"] = spec.artifacts.runner_form()
        message = encode_message(body)
        try:
            outcome, report = await self._channel.run(
                message, spec.limits, on_output, artifacts=spec.artifacts, grace_s=grace_ms / 1000
            )
        except (EngineError, OSError) as exc:
            self._end()
            if self._closing:
                return _closed_while_running()
            raise self._gone(exc) from exc
        except BaseException:
            self._end()
            raise
        if self._closing:  # the container went away under the cell because the session was closed
            self._end()
            return _closed_while_running(outcome)
        interrupted = (
            report is not None and report.interrupted and report.timed_out and outcome.status is Status.TIMEOUT
        )
        if report is None or report.session_ended or (outcome.status not in SURVIVABLE and not interrupted):
            self._end()
        elif interrupted:
            outcome = dataclasses.replace(
                outcome,
                message=f"interrupted after {spec.limits.wall_time_s:g} s (its wall-clock limit: KeyboardInterrupt "
                "in the cell); the session is still open",
            )
        if report is not None and report.session_end is not None:
            outcome = self._ended_by_runner(outcome, report)
        return outcome

    def _ended_by_runner(self, outcome: RunOutcome, report: RunnerReport) -> RunOutcome:
        """The cell's outcome when the runner ended the session for the session's sake."""
        if report.session_end == "cpu_budget":
            return dataclasses.replace(
                outcome,
                status=Status.CPU_TIME_EXCEEDED,
                message=f"the session used up its CPU budget of {self.cpu_budget_s} s "
                "(all of its processes, over its whole life); every process was killed",
            )
        if report.session_end == "reply":
            return dataclasses.replace(
                outcome,
                status=Status.KILLED,
                message="the cell wrote to its interpreter's private result pipe; the interpreter was killed",
            )
        # "unfreezable": the cell answered, but what it left running could not be stopped.
        return dataclasses.replace(
            outcome,
            message=(outcome.message + "; " if outcome.message else "")
            + "the program kept itself running after the cell answered and could not be stopped "
            "between calls; every process was killed",
        )

    def _check_open(self) -> None:
        if self._ended:
            raise NotFound("the session has ended")

    async def _call(self, body: dict[str, object]) -> bytes:
        """One file operation. Anything but the runner's refusal ends the session: an answer left
        unread in the socket (a cancelled call) would be taken for the next cell's."""
        try:
            return await self._channel.call(encode_message(body))
        except RequestRejected:
            raise  # the runner refused the path; its answer was read to the end
        except (EngineError, OSError, TimeoutError) as exc:
            self._end()
            raise self._gone(exc) from exc
        except BaseException:
            self._end()
            raise

    def _gone(self, exc: BaseException) -> NotFound:
        """The answer when the session's protocol broke: the detail goes to the log, not to the caller."""
        # The type only: a runner's diagnostics quote the program's output, which may hold a secret.
        log.info("session container %s ended (%s)", self.container.id[:12], type(exc).__name__)
        return NotFound(
            "the session has ended: its interpreter is gone (it exited between calls, or the program "
            "broke the session's protocol); open a new session"
        )

    def _end(self) -> None:
        if not self._ended:
            self._ended = True
            self._on_end(self)


def _listing(answer: bytes) -> SessionFiles:
    """The runner's workdir listing, checked: the program shares the container, so every field is
    untrusted (at most ``LIST_MAX_ENTRIES`` entries; a malformed one is a protocol failure)."""
    try:
        body = json.loads(answer)
        entries, truncated = body["entries"], body["truncated"]
        if not isinstance(entries, list) or type(truncated) is not bool or len(entries) > LIST_MAX_ENTRIES:
            raise ValueError("not a listing")
        items = []
        for entry in entries:
            path, kind, size = entry["path"], entry["type"], entry["size"]
            if not isinstance(path, str) or not 0 < len(path) <= LIST_MAX_PATH or type(size) is not int:
                raise ValueError("not a listing entry")
            # A name that is not UTF-8 reaches here as surrogates, which no JSON answer can carry.
            path = path.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
            items.append(SessionFile(path=path, type=kind, size=max(size, 0)))
    except (ValueError, KeyError, TypeError, RecursionError) as exc:  # pydantic's ValidationError is a ValueError
        raise EngineError(f"the runner's workdir listing is malformed ({type(exc).__name__})") from None
    return SessionFiles(items=items, truncated=truncated)


def _closed_while_running(outcome: RunOutcome | None = None) -> RunOutcome:
    """A cell killed because its session was closed (deleted, or past its maximum lifetime)."""
    return RunOutcome(
        status=Status.KILLED,
        signal=signal.SIGKILL,
        stdout=outcome.stdout if outcome else b"",
        stderr=outcome.stderr if outcome else b"",
        wall_ms=outcome.wall_ms if outcome else 0,
        message="the session was closed while this cell ran; it was killed with the container",
    )


class _Cell(Lease):
    """The session's interpreter lent for one cell."""

    def __init__(self, session: DockerSession) -> None:
        self._session = session

    async def run(self, spec: RunSpec, on_output: OutputCallback | None = None) -> RunOutcome:
        return await self._session.run_cell(spec, on_output)
