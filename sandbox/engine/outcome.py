"""Decide a run's status from what the runner reported and what the host saw.

The host's own observations (its deadline, its byte count, Docker's OOM flag)
win over the runner's report: a program can forge the report, not the host's view.
"""

from __future__ import annotations

import signal as signals
from dataclasses import dataclass

from sandbox.engine.protocol import RunnerReport
from sandbox.models import Status


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
