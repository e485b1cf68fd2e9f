"""The host's side of a conversation with one container's runner, over its attach socket.

One ``RunnerChannel`` per container: ``greet`` waits for the runner's hello
(proof the container is alive before anything is sent), ``run`` sends one
request and reads its frames up to the result, and the session operations send
one message and read its answer. The host enforces its own deadline and byte
caps while reading, kills the container when either is passed, and takes the
OOM verdict from Docker rather than from the runner: everything the runner says
is untrusted (see ``protocol.py``).
"""

from __future__ import annotations

import asyncio
import json
import signal as signals
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sandbox.engine.collected import ArtifactIntake
from sandbox.engine.docker import Container
from sandbox.engine.outcome import HostView, classify, classify_compile, judge_cases
from sandbox.engine.protocol import CaseReport, CompileReport, Frame, FrameReader, ProtocolError, RunnerReport
from sandbox.engine.spec import ArtifactRules, CollectedArtifact, OutputCallback, RunOutcome, deliver
from sandbox.errors import DockerFailing, DockerUnavailable, EngineError, NotFound, RequestRejected
from sandbox.models import CompileResult, EffectiveLimits, Status, TestCaseResult

DIAG_TAIL = 300  # characters of the runner's own stderr quoted in an error


class StaleContainer(EngineError):
    """The container died before its runner greeted us: no program ran in it."""


class GreetTimeout(StaleContainer):
    """The runner did not greet in time (its container may still be running)."""


async def blame_engine(container: Container, what: str, *, hung: bool = False) -> dict[str, Any] | None:
    """Raise a capacity refusal (503, counted by the breaker) when the engine, not the container, is why
    its stream ended (``what`` says what was lost); otherwise return Docker's ``State`` (``None``: gone).

    The engine is to blame when it does not answer about the container, or says it is still running
    (its stream was cut: not said for ``hung``, a runner that never spoke) or created or restarting,
    or that something other than us SIGKILLed it without an OOM (an engine shutting down). Asked
    about the container rather than pinged: a stopping dockerd closes its socket but still answers
    on connections already open, so one ping may succeed while new connections fail.
    """
    try:
        state = await container.state()
    except (DockerUnavailable, DockerFailing) as down:
        raise DockerUnavailable(f"{what}; {down.message}") from down
    if state is None:
        return None  # removed behind our back: no one to blame but whoever did it
    cut = state.get("Running") and not hung
    killed = state.get("ExitCode") == 137 and not state.get("OOMKilled") and not container.killed
    if cut or state.get("Status") in ("created", "restarting") or killed:
        status = state.get("Status", "?")
        raise DockerFailing(f"{what} (the engine says it is {status}: the engine cut it off)")
    return state


@dataclass(frozen=True)
class Stages:
    """What a run has besides the program: a compile first, tests mode (the number of cases).

    ``on_compiled`` runs after a good compile and must tell the runner to go on (the one-shot
    lease sets the run's memory limit on the container first).
    """

    compile: bool = False
    #: Tests mode: each case's expected output as ``output_digest`` gives it (None: not judged).
    tests: tuple[str | None, ...] | None = None
    #: Called with the workdir's size after the compile (``CompileReport.workdir_bytes``); returns why the
    #: program cannot start (the run's memory limit cannot hold what the compile left), or None.
    on_compiled: Callable[[int], Awaitable[str | None]] | None = None


def _case_result(case: CaseReport, limits: EffectiveLimits, expected: str | None) -> TestCaseResult:
    """One case's result: its status decided like a run's, ``passed`` only for a run that ended ok."""
    report = case.report
    status, message = classify(report, HostView(), limits.wall_time_s, limits.cpu_time_s)
    passed = None if expected is None else (case.stdout_sha256 == expected and status is Status.OK)
    return TestCaseResult(
        index=case.index,
        status=status,
        passed=passed,
        exit_code=report.exit_code,
        signal=report.signal,
        stdout=case.stdout.decode("utf-8", errors="replace"),
        stderr=case.stderr.decode("utf-8", errors="replace"),
        stdout_truncated=report.stdout_truncated,
        stderr_truncated=report.stderr_truncated,
        wall_ms=report.wall_ms,
        cpu_ms=report.cpu_ms,
        peak_memory_bytes=report.peak_memory_bytes,
        message=message,
    )


def _lost_case(index: int, status: Status, limits: EffectiveLimits) -> TestCaseResult:
    """A case whose frame never came: the host's deadline passed (``timeout``), or the sandbox ran out of memory."""
    host = HostView(timed_out=status is Status.TIMEOUT, oom_killed=status is Status.MEMORY_EXCEEDED)
    _, message = classify(None, host, limits.wall_time_s, limits.cpu_time_s)
    return TestCaseResult(index=index, status=status, passed=False, signal=signals.SIGKILL, message=message)


def _reset_failure(payload: bytes) -> str:
    """Why the runner stopped before the last case (its result frame's ``reset_failed``), or ""."""
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"result frame is not JSON: {type(exc).__name__}") from exc
    reason = data.get("reset_failed") if isinstance(data, dict) else None
    return reason[:300] if isinstance(reason, str) else "the runner stopped early"


class RunnerChannel:
    """Frames to and from one container's runner; one request or session call at a time."""

    def __init__(self, container: Container, *, kill_grace_s: float, answer_timeout_s: float) -> None:
        self.container = container
        self._reader = FrameReader(container.sock)
        self._kill_grace_s = kill_grace_s
        self._answer_timeout_s = answer_timeout_s

    async def greet(self, timeout_s: float) -> None:
        """Wait for the runner's hello; ``StaleContainer`` if it never comes."""
        self._reader.deadline = time.monotonic() + timeout_s
        try:
            hello = await self._reader.next()
        except TimeoutError:
            raise GreetTimeout(f"the runner did not greet within {timeout_s:g} s") from None
        if hello is None:
            raise StaleContainer("the container ended before its runner greeted")
        if hello.kind != "hello":
            raise ProtocolError(f"expected a hello frame, got {hello.kind}")

    async def send(self, message: bytes) -> None:
        await asyncio.get_running_loop().sock_sendall(self.container.sock, message)

    async def run(
        self,
        message: bytes,
        limits: EffectiveLimits,
        on_output: OutputCallback | None,
        stages: Stages | None = None,
        artifacts: ArtifactRules | None = None,
        grace_s: float = 0.0,
    ) -> tuple[RunOutcome, RunnerReport | None]:
        """Send one request (a run, or a session cell) and collect its frames into an outcome.

        ``stages``: a compile first (its frame, then ``on_compiled`` before the program may start),
        and tests mode (a frame per case); each stage under its own host deadline. ``artifacts``:
        the rules the request gave the runner, which the host holds its frames to. ``grace_s``: the
        time the runner may take past the wall limit before its own kill (a session cell's interrupt
        grace), added to the host's deadline.
        """
        stages = stages or Stages()
        started = time.monotonic()
        await self.send(message)
        compiled = None
        if stages.compile:
            compiled, workdir_bytes, failed = await self._compile(limits, started)
            if failed is not None:
                return failed, None
            if stages.on_compiled is not None:
                refused = await stages.on_compiled(workdir_bytes)
                if refused is not None:
                    await self.container.kill()
                    outcome = RunOutcome(status=Status.MEMORY_EXCEEDED, message=refused, compile=compiled)
                    return outcome, None
            started = time.monotonic()
        if stages.tests is not None:
            outcome, report = await self._cases(limits, started, stages.tests), None
        else:
            outcome, report = await self._collect(limits, started, on_output, artifacts, grace_s)
        outcome.compile = compiled
        return outcome, report

    async def _compile(self, limits: EffectiveLimits, started: float) -> tuple[CompileResult, int, RunOutcome | None]:
        """Read the compile's frame; its result, the workdir's size, and the run's outcome if the compile failed."""
        self._reader.deadline = started + limits.compile_wall_time_s + self._kill_grace_s
        parsed: CompileReport | None = None
        host = HostView()
        try:
            frame = await self._reader.next()
        except TimeoutError:
            host = HostView(timed_out=True)
            await self.container.kill()
        else:
            if frame is None:
                state = await blame_engine(self.container, "the connection to the runner ended during the compile")
                host = HostView(runner_lost=True, oom_killed=bool(state and state.get("OOMKilled")))
            else:
                parsed = CompileReport.parse(self._expect(frame, "compile"))
        report = parsed.report if parsed else None
        if report is not None and report.signal == signals.SIGKILL and not report.timed_out:
            host = HostView(oom_killed=await self.container.oom_killed())
        status, message = classify_compile(report, host, limits.compile_wall_time_s, limits.compile_cpu_time_s)
        output = parsed.output if parsed else b""
        result = CompileResult(
            status=status,
            exit_code=report.exit_code if report else None,
            signal=report.signal if report else (signals.SIGKILL if host.timed_out or host.oom_killed else None),
            output=output.decode("utf-8", errors="replace"),
            output_truncated=bool(parsed and parsed.output_truncated),
            wall_ms=report.wall_ms if report else int((time.monotonic() - started) * 1000),
            cpu_ms=report.cpu_ms if report else 0,
            peak_memory_bytes=report.peak_memory_bytes if report else 0,
            message=message,
        )
        if status is Status.OK:
            return result, parsed.workdir_bytes if parsed else 0, None
        failed = RunOutcome(
            status=status,
            exit_code=result.exit_code,
            signal=result.signal,
            stderr=output,
            stderr_truncated=result.output_truncated,
            wall_ms=result.wall_ms,
            cpu_ms=result.cpu_ms,
            peak_memory_bytes=result.peak_memory_bytes,
            message=message,
            compile=result,
        )
        return result, 0, failed

    async def _cases(self, limits: EffectiveLimits, started: float, expected: tuple[str | None, ...]) -> RunOutcome:
        """Read tests mode's frames, one per case, then the result; each case under its own deadline."""
        total = len(expected)
        reader = self._reader
        cases: list[TestCaseResult] = []
        not_run = ""
        reader.deadline = started + limits.wall_time_s + self._kill_grace_s
        while True:
            try:
                frame = await reader.next()
            except TimeoutError:
                await self.container.kill()
                cases.append(_lost_case(len(cases), Status.TIMEOUT, limits))
                not_run = f"the container was killed when case {len(cases) - 1} passed its wall-clock limit"
                break
            if frame is None:
                state = await blame_engine(self.container, "the connection to the runner ended during the tests")
                if not (state and state.get("OOMKilled")):
                    raise EngineError("the runner ended without reporting the test cases" + self._diag())
                cases.append(_lost_case(len(cases), Status.MEMORY_EXCEEDED, limits))
                not_run = f"the sandbox ended when case {len(cases) - 1} ran out of memory"
                break
            if frame.kind == "result":
                not_run = _reset_failure(frame.payload)
                break
            case = CaseReport.parse(self._expect(frame, "case"))
            if case.index != len(cases) or case.index >= total:
                raise ProtocolError(f"case frame {case.index} out of order")
            cases.append(_case_result(case, limits, expected[case.index]))
            reader.deadline = time.monotonic() + limits.wall_time_s + self._kill_grace_s
        for index in range(len(cases), total):
            cases.append(TestCaseResult(index=index, status=Status.KILLED, passed=False, message=f"not run: {not_run}"))
        status, exit_code, message, summary = judge_cases(cases, total)
        return RunOutcome(
            status=status,
            exit_code=exit_code,
            wall_ms=int((time.monotonic() - started) * 1000),
            cpu_ms=sum(case.cpu_ms for case in cases),
            peak_memory_bytes=max((case.peak_memory_bytes for case in cases), default=0),
            message=message,
            tests=cases,
            summary=summary,
        )

    def _expect(self, frame: Frame, kind: str) -> bytes:
        """The payload of ``frame`` if it is a ``kind`` frame; the runner's error, or a protocol error."""
        if frame.kind == kind:
            return frame.payload
        if frame.kind == "error":
            raise EngineError(f"runner: {frame.payload[:500].decode(errors='replace')}{self._diag()}")
        raise ProtocolError(f"runner protocol error: expected a {kind} frame, got {frame.kind}")

    def _diag(self) -> str:
        diag = self._reader.diag.decode(errors="replace")[-DIAG_TAIL:]
        return f"; runner stderr: {diag}" if diag else ""

    async def call(self, message: bytes) -> bytes:
        """One request answered by a result frame (opening a session, a file operation).

        Returns the file bytes, if a file frame came before the result.

        ``RequestRejected`` carries the runner's reason (a bad path, a link), ``NotFound`` a
        file that does not exist; ``EngineError`` means the container is gone.
        """
        await self.send(message)
        self._reader.deadline = time.monotonic() + self._answer_timeout_s
        content = b""
        while True:
            frame = await self._reader.next()
            if frame is None:
                raise EngineError("the session's container ended")
            if frame.kind == "file":
                content = frame.payload
            elif frame.kind == "result":
                return content
            elif frame.kind == "error":
                missing = False
                try:
                    body = json.loads(frame.payload)
                    reason, missing = str(body["error"]), body.get("missing") is True
                except (ValueError, KeyError, TypeError, AttributeError):
                    reason = frame.payload[:300].decode(errors="replace")
                raise (NotFound if missing else RequestRejected)(reason[:300])
            else:
                raise ProtocolError(f"unexpected {frame.kind} frame in a session answer")

    async def _collect(
        self,
        limits: EffectiveLimits,
        started: float,
        on_output: OutputCallback | None,
        rules: ArtifactRules | None = None,
        grace_s: float = 0.0,
    ) -> tuple[RunOutcome, RunnerReport | None]:
        """Read one request's frames up to its result, enforcing the host's deadline and caps.

        Artifacts (``A`` then ``F`` frames, after the output) are kept only with a result: a run
        the host had to cut off brings none back.
        """
        reader = self._reader
        intake = ArtifactIntake(rules) if rules is not None else None
        reader.deadline = started + limits.wall_time_s + grace_s + self._kill_grace_s
        out = {"stdout": bytearray(), "stderr": bytearray()}
        caps = {"stdout": limits.stdout_bytes, "stderr": limits.stderr_bytes}
        report: RunnerReport | None = None
        collected: list[CollectedArtifact] = []
        host = HostView()
        error: str | None = None
        while report is None and error is None and not host.output_limit and not host.runner_lost:
            try:
                frame = await reader.next()
            except TimeoutError:
                host = HostView(timed_out=True)
                break
            except ProtocolError as exc:
                error = f"runner protocol error: {exc.message}"
                break
            if frame is None:
                host = HostView(runner_lost=True)
            elif frame.kind in out:
                room = caps[frame.kind] - len(out[frame.kind])
                piece = frame.payload[: max(room, 0)]
                out[frame.kind] += piece
                if piece:
                    await deliver(on_output, frame.kind, piece)
                if len(frame.payload) > room:
                    host = HostView(output_limit=frame.kind)
            elif frame.kind in ("artifact", "file") and intake is not None:
                try:
                    if frame.kind == "artifact":
                        intake.header(frame.payload)
                    else:
                        intake.data(frame.payload)
                except ProtocolError as exc:
                    error = f"runner protocol error: {exc.message}"
            elif frame.kind == "result":
                try:
                    report = RunnerReport.parse(frame.payload)
                    collected = intake.finish() if intake is not None else []
                except ProtocolError as exc:
                    error = exc.message
            elif frame.kind == "error":
                error = f"runner: {frame.payload[:500].decode(errors='replace')}"
            else:
                error = f"runner protocol error: unexpected {frame.kind} frame"

        wall_ms = int((time.monotonic() - started) * 1000)
        if host.timed_out or host.output_limit:
            await self.container.kill()  # now; removal follows when the lease ends
        diag = reader.diag.decode(errors="replace")[-DIAG_TAIL:]
        if error is not None:
            raise EngineError(error + (f"; runner stderr: {diag}" if diag else ""))
        killed_plainly = report is not None and report.signal == signals.SIGKILL and not report.timed_out
        if host.runner_lost:  # the stream ended without a result: the engine going away is a 503, not ours
            state = await blame_engine(self.container, "the connection to the runner ended during the run")
            oom = bool(state and state.get("OOMKilled"))
        else:
            oom = killed_plainly and await self.container.oom_killed()
        if oom:
            host = HostView(oom_killed=True, runner_lost=host.runner_lost)
        status, message = classify(report, host, limits.wall_time_s, limits.cpu_time_s)
        if host.runner_lost and not host.oom_killed and diag:
            message += f"; runner stderr: {diag}"
        if report is not None and not host.timed_out:
            wall_ms = report.wall_ms
        outcome = RunOutcome(
            status=status,
            exit_code=report.exit_code if report else None,
            # No report: the runner died with its container; the host's kill or the OOM killer (under
            # gVisor it takes the whole sandbox, runner included) ended the program with SIGKILL.
            signal=report.signal if report else (signals.SIGKILL if host.timed_out or host.oom_killed else None),
            stdout=bytes(out["stdout"]),
            stderr=bytes(out["stderr"]),
            stdout_truncated=host.output_limit == "stdout" or bool(report and report.stdout_truncated),
            stderr_truncated=host.output_limit == "stderr" or bool(report and report.stderr_truncated),
            wall_ms=wall_ms,
            cpu_ms=report.cpu_ms if report else 0,
            peak_memory_bytes=report.peak_memory_bytes if report else 0,
            message=message,
            artifacts=collected if report is not None and not host.timed_out and not host.output_limit else [],
        )
        return outcome, report
