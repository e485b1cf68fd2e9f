"""Decide a run's status from what the runner reported and what the host saw.

The host's own observations (its deadline, its byte count, Docker's OOM flag)
win over the runner's report: a program can forge the report, not the host's view.
"""

from __future__ import annotations

import signal as signals
from dataclasses import dataclass

from sandbox.engine.protocol import RunnerReport
from sandbox.models import Status, TestCaseResult, TestSummary


@dataclass(frozen=True)
class HostView:
    """What the host observed itself during the run."""

    timed_out: bool = False  # the host deadline passed and the container was killed
    output_limit: str | None = None  # a stream passed its cap as counted by the host
    oom_killed: bool = False  # Docker's State.OOMKilled
    runner_lost: bool = False  # the stream ended without a result frame


def classify(report: RunnerReport | None, host: HostView, wall_time_s: float, cpu_time_s: int) -> tuple[Status, str]:
    """Return the status and a one-line reason for it."""
    if host.timed_out or (report is not None and report.timed_out):
        return Status.TIMEOUT, f"wall-clock limit of {wall_time_s:g} s reached; the program was killed"
    limit = host.output_limit or (report.output_limit if report else None)
    if limit:
        return Status.OUTPUT_LIMIT_EXCEEDED, f"{limit} passed its byte cap; the program was killed"
    if host.oom_killed or (report is not None and report.oom_killed and report.signal == signals.SIGKILL):
        return Status.MEMORY_EXCEEDED, "memory limit reached; the program was killed by the OOM killer"
    if report is not None and report.oom_killed and report.exit_code:
        # A process it started (a compiler driver's cc1, a shell's command) was the OOM killer's choice.
        return Status.MEMORY_EXCEEDED, (
            f"memory limit reached; the OOM killer killed a process of the program, which exited with "
            f"code {report.exit_code}"
        )
    if report is None:
        return Status.INTERNAL_ERROR, "the runner ended without reporting a result"
    if report.cpu_limit_hit or report.signal == signals.SIGXCPU:
        return Status.CPU_TIME_EXCEEDED, f"CPU-time limit of {cpu_time_s} s reached"
    if report.signal is not None:
        return Status.KILLED, f"killed by signal {report.signal} ({_signal_name(report.signal)})"
    if report.exit_code:
        return Status.RUNTIME_ERROR, f"exited with code {report.exit_code}"
    return Status.OK, ""


def _signal_name(number: int) -> str:
    try:
        return signals.Signals(number).name
    except ValueError:
        return "unknown"


def classify_compile(
    report: RunnerReport | None, host: HostView, wall_time_s: float, cpu_time_s: int
) -> tuple[Status, str]:
    """The compile's status: ``compile_error`` for a compiler that failed (exit code, crash, output over
    its cap); a limit it reached keeps that limit's status, with a message saying it was the compile."""
    status, message = classify(report, host, wall_time_s, cpu_time_s)
    message = message.replace("the program", "the compiler")
    if status is Status.OK:
        return status, ""
    if status is Status.OUTPUT_LIMIT_EXCEEDED:  # its stdout and stderr share one pipe, capped at stderr_bytes
        return (
            Status.COMPILE_ERROR,
            "compilation failed: the compiler's output passed its byte cap (limits.stderr_bytes)",
        )
    if status in (Status.RUNTIME_ERROR, Status.KILLED, Status.OUTPUT_LIMIT_EXCEEDED):
        return Status.COMPILE_ERROR, f"compilation failed: {message}"
    hint = {
        Status.TIMEOUT: " (limits.compile_wall_time_s)",
        Status.CPU_TIME_EXCEEDED: " (limits.compile_cpu_time_s)",
        Status.MEMORY_EXCEEDED: " (limits.compile_memory_mb)",
    }.get(status, "")
    return status, f"the compile: {message}{hint}"


def judge_cases(cases: list[TestCaseResult], total: int) -> tuple[Status, int | None, str, TestSummary]:
    """Tests mode's overall verdict: (status, exit code, message, summary).

    The status is the first case's that did not end ``ok`` (with its exit code), else ``ok``:
    it says how the runs went. Whether the answers were right is in the summary and each
    case's ``passed``. Cases that did not run (``total`` is how many were asked) count as failed.
    """
    passed = sum(1 for case in cases if case.passed is True)
    unjudged = sum(1 for case in cases if case.passed is None and case.status is Status.OK)
    failed = total - passed - unjudged
    summary = TestSummary(total=total, passed=passed, failed=failed, unjudged=unjudged)
    counts = f"{passed} of {total} case(s) passed" + (f", {unjudged} not judged" if unjudged else "")
    broken = next((case for case in cases if case.status is not Status.OK), None)
    if broken is not None:
        message = f"{counts}; case {broken.index}: {broken.status.value} ({broken.message})"
        return broken.status, broken.exit_code, message, summary
    if len(cases) < total:
        return Status.INTERNAL_ERROR, None, f"{counts}; only {len(cases)} case(s) reported", summary
    wrong = next((case for case in cases if case.passed is False), None)
    if wrong is not None:
        return Status.OK, 0, f"{counts}; case {wrong.index} printed other output than expected", summary
    return Status.OK, 0, counts, summary
