"""Status classification: the host's own observations win over the runner's report."""

from __future__ import annotations

import signal

import pytest

from sandbox.engine.outcome import HostView, classify
from sandbox.engine.protocol import RunnerReport
from sandbox.models import Status


def report(**overrides: object) -> RunnerReport:
    values: dict[str, object] = {
        "exit_code": 0,
        "signal": None,
        "wall_ms": 10,
        "cpu_ms": 5,
        "peak_memory_bytes": 1 << 20,
        "stdout_truncated": False,
        "stderr_truncated": False,
        "timed_out": False,
        "output_limit": None,
        "cpu_limit_hit": False,
        "oom_killed": False,
    }
    values.update(overrides)
    return RunnerReport(**values)  # type: ignore[arg-type]


def status_of(rep: RunnerReport | None, host: HostView | None = None) -> Status:
    return classify(rep, host or HostView(), 2.5, 3)[0]


def test_ok() -> None:
    assert classify(report(), HostView(), 2.5, 3) == (Status.OK, "")


def test_non_zero_exit_is_runtime_error() -> None:
    status, message = classify(report(exit_code=3), HostView(), 2.5, 3)
    assert status is Status.RUNTIME_ERROR
    assert message == "exited with code 3"


@pytest.mark.parametrize(
    ("number", "name"), [(signal.SIGTERM, "SIGTERM"), (signal.SIGKILL, "SIGKILL"), (signal.SIGSEGV, "SIGSEGV")]
)
def test_signal_is_killed_with_its_name(number: int, name: str) -> None:
    status, message = classify(report(exit_code=None, signal=number), HostView(), 2.5, 3)
    assert status is Status.KILLED
    assert f"signal {number}" in message
    assert name in message


def test_unknown_signal_number() -> None:
    status, message = classify(report(exit_code=None, signal=200), HostView(), 2.5, 3)
    assert status is Status.KILLED
    assert "unknown" in message


def test_sigxcpu_is_cpu_time_exceeded() -> None:
    # What the runner reports when RLIMIT_CPU's soft limit fires.
    status, message = classify(report(exit_code=None, signal=signal.SIGXCPU, cpu_limit_hit=True), HostView(), 2.5, 3)
    assert status is Status.CPU_TIME_EXCEEDED
    assert "3 s" in message


def test_cpu_hard_limit_sigkill_is_cpu_time_exceeded() -> None:
    rep = report(exit_code=None, signal=signal.SIGKILL, cpu_limit_hit=True)
    assert status_of(rep) is Status.CPU_TIME_EXCEEDED


def test_no_report_is_internal_error() -> None:
    status, message = classify(None, HostView(), 2.5, 3)
    assert status is Status.INTERNAL_ERROR
    assert "without reporting" in message
    assert status_of(None, HostView(runner_lost=True)) is Status.INTERNAL_ERROR


# ----------------------------------------------------------------- host view wins


def test_host_timeout_beats_a_report_of_ok() -> None:
    status, message = classify(report(), HostView(timed_out=True), 2.5, 3)
    assert status is Status.TIMEOUT
    assert "2.5 s" in message


@pytest.mark.parametrize(
    "rep",
    [
        None,
        report(),
        report(exit_code=1),
        report(output_limit="stdout"),
        report(oom_killed=True, signal=signal.SIGKILL, exit_code=None),
        report(cpu_limit_hit=True, signal=signal.SIGXCPU, exit_code=None),
    ],
)
def test_host_timeout_beats_everything(rep: RunnerReport | None) -> None:
    assert status_of(rep, HostView(timed_out=True, output_limit="stdout", oom_killed=True)) is Status.TIMEOUT


def test_report_timeout() -> None:
    assert status_of(report(timed_out=True, signal=signal.SIGKILL, exit_code=None)) is Status.TIMEOUT


@pytest.mark.parametrize("rep", [None, report(), report(exit_code=2), report(output_limit="stdout")])
def test_host_output_limit(rep: RunnerReport | None) -> None:
    status, message = classify(rep, HostView(output_limit="stderr"), 2.5, 3)
    assert status is Status.OUTPUT_LIMIT_EXCEEDED
    assert message.startswith("stderr ")


def test_report_output_limit() -> None:
    status, message = classify(report(output_limit="stdout", signal=signal.SIGKILL), HostView(), 2.5, 3)
    assert status is Status.OUTPUT_LIMIT_EXCEEDED
    assert message.startswith("stdout ")


@pytest.mark.parametrize(
    "rep",
    [None, report(), report(exit_code=1), report(signal=signal.SIGKILL, exit_code=None), report(cpu_limit_hit=True)],
)
def test_docker_oom_flag_wins(rep: RunnerReport | None) -> None:
    status, message = classify(rep, HostView(oom_killed=True), 2.5, 3)
    assert status is Status.MEMORY_EXCEEDED
    assert "memory" in message


def test_output_limit_beats_oom() -> None:
    assert status_of(report(), HostView(output_limit="stdout", oom_killed=True)) is Status.OUTPUT_LIMIT_EXCEEDED


def test_report_oom_counts_only_with_sigkill() -> None:
    assert status_of(report(oom_killed=True, signal=signal.SIGKILL, exit_code=None)) is Status.MEMORY_EXCEEDED
    # Every process in a one-shot container is the program's: an OOM kill while it failed is its verdict
    # (a compiler driver's cc1plus, a shell's command); one it survived and exited 0 from is not.
    assert status_of(report(oom_killed=True, exit_code=1)) is Status.MEMORY_EXCEEDED
    assert status_of(report(oom_killed=True)) is Status.OK


def test_every_program_status_is_reachable() -> None:
    """classify produces exactly the statuses that describe how a program ended."""
    seen = {
        status_of(report()),
        status_of(report(exit_code=1)),
        status_of(report(exit_code=None, signal=signal.SIGTERM)),
        status_of(report(cpu_limit_hit=True, signal=signal.SIGXCPU)),
        status_of(report(), HostView(timed_out=True)),
        status_of(report(), HostView(output_limit="stdout")),
        status_of(report(), HostView(oom_killed=True)),
        status_of(None),
    }
    assert seen == {
        Status.OK,
        Status.RUNTIME_ERROR,
        Status.KILLED,
        Status.CPU_TIME_EXCEEDED,
        Status.TIMEOUT,
        Status.OUTPUT_LIMIT_EXCEEDED,
        Status.MEMORY_EXCEEDED,
        Status.INTERNAL_ERROR,
    }


def test_a_non_zero_exit_after_an_oom_kill_in_the_run_is_memory_exceeded() -> None:
    """A process the program started (a compiler driver's cc1plus, a shell's command) was OOM-killed."""
    status, message = classify(report(exit_code=1, oom_killed=True), HostView(), 2.5, 3)
    assert status is Status.MEMORY_EXCEEDED
    assert "OOM killer killed a process of the program" in message and "code 1" in message
    # The program handled it and exited 0: its own verdict stands.
    assert classify(report(exit_code=0, oom_killed=True), HostView(), 2.5, 3)[0] is Status.OK
