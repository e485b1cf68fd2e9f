"""The runner's one output pump (``sandbox_runner.pump``): the same caps for one-shot runs and session cells.

Output can cross a cap in two places: while the program runs, or in the tail
drain, after it exited (one-shot) or reported the cell back (session). Both
places and both kinds of run must forward exactly the bytes within the cap and
say the output was truncated. The wrapper option ``PUMP_WHEN_DONE`` starts the
pump only once the program is done, so every byte goes through the tail drain.
Everything runs the real runner on the host through ``helpers.RUNNER_WRAPPER``.
"""

from __future__ import annotations

import signal
from dataclasses import replace
from pathlib import Path

import pytest

from sandbox.engine.protocol import Frame, RunnerReport
from tests.unit.helpers import (
    PUMP_WHEN_DONE,
    HostSession,
    exec_spec,
    joined,
    python_spec,
    run_on_host,
)

CAP = 1000
WRITTEN = 3000  # below a pipe's capacity: one os.write, never blocked
DATA = (b"0123456789abcdef" * 1000)[:WRITTEN]


def writer(fd: int, size: int = WRITTEN, *, then_sleep: bool = False) -> str:
    """A program (or cell) that writes ``size`` bytes of DATA to ``fd`` at once, then ends or sleeps."""
    # An assignment: a session cell's last expression would be displayed (its byte count on stdout).
    code = f"import os, time\nwritten = os.write({fd}, {DATA[:size]!r})\n"
    return code + ("time.sleep(30)\n" if then_sleep else "")


def run_in(mode: str, code: str, workdir: Path, *options: str, **limits: float) -> tuple[list[Frame], RunnerReport]:
    """``code`` as a one-shot Python run or as a session cell; for a session, also checks what the cell left."""
    if mode == "oneshot":
        frames, report = run_on_host(python_spec(code, **limits), workdir, *options)
        assert report is not None, frames
        return frames, report
    with HostSession(workdir, *options) as session:
        frames, report = session.exec(code, **limits)
        assert report is not None, frames
        after, _ = session.exec("print('next cell')")
        if report.session_ended:
            assert [f.kind for f in after] == ["error"] and b"the session has ended" in after[0].payload
        else:
            assert joined(after, "stdout") == b"next cell\n", "a cell's output must stay with its cell"
    return frames, report


def test_a_session_cell_that_passes_the_cap_in_the_tail_is_truncated(tmp_path: Path) -> None:
    """The drift this pump removed: the session's tail cut output at the cap without saying so."""
    with HostSession(tmp_path, PUMP_WHEN_DONE) as session:
        frames, report = session.exec(writer(1), stdout_bytes=CAP)
        assert report is not None
        assert joined(frames, "stdout") == DATA[:CAP]
        assert report.stdout_truncated and report.output_limit == "stdout"
        assert not report.stderr_truncated and not report.timed_out
        assert report.exit_code == 0 and report.signal is None, "the cell itself completed"
        assert report.session_ended, "a cell that overflows a cap ends the session"
        refused, _ = session.exec("print('more')")
        assert [f.kind for f in refused] == ["error"]


def test_a_one_shot_run_that_passes_the_cap_in_the_tail_is_truncated(tmp_path: Path) -> None:
    frames, report = run_on_host(python_spec(writer(2), stderr_bytes=CAP), tmp_path, PUMP_WHEN_DONE)
    assert report is not None
    assert joined(frames, "stderr") == DATA[:CAP]
    assert report.stderr_truncated and report.output_limit == "stderr"
    assert not report.stdout_truncated and not report.timed_out
    assert report.exit_code == 0 and report.signal is None


@pytest.mark.parametrize("mode", ["oneshot", "session"])
@pytest.mark.parametrize("phase", ["running", "tail"])
@pytest.mark.parametrize(("fd", "stream"), [(1, "stdout"), (2, "stderr")])
def test_a_cap_means_the_same_everywhere(tmp_path: Path, mode: str, phase: str, fd: int, stream: str) -> None:
    """Exactly the bytes within the cap, the stream's flag and output_limit: in both runs, in both places."""
    options = (PUMP_WHEN_DONE,) if phase == "tail" else ()
    code = writer(fd, then_sleep=phase == "running")
    frames, report = run_in(mode, code, tmp_path, *options, wall_time_s=20, **{f"{stream}_bytes": CAP})
    assert joined(frames, stream) == DATA[:CAP]
    other = "stderr" if stream == "stdout" else "stdout"
    assert joined(frames, other) == b""
    assert getattr(report, f"{stream}_truncated") and not getattr(report, f"{other}_truncated")
    assert report.output_limit == stream and not report.timed_out
    if phase == "running":  # stopped on the first byte past the cap, long before its wall limit
        assert (report.exit_code, report.signal) == (None, signal.SIGKILL)
        assert report.wall_ms < 10_000
    else:  # it had completed: only its output was cut
        assert (report.exit_code, report.signal) == (0, None)
    assert report.session_ended == (mode == "session")


@pytest.mark.parametrize("mode", ["oneshot", "session"])
@pytest.mark.parametrize("options", [(), (PUMP_WHEN_DONE,)], ids=["as-it-comes", "all-in-the-tail"])
def test_output_exactly_at_the_cap_is_not_truncated(tmp_path: Path, mode: str, options: tuple[str, ...]) -> None:
    frames, report = run_in(mode, writer(1, CAP), tmp_path, *options, stdout_bytes=CAP)
    assert joined(frames, "stdout") == DATA[:CAP]
    assert not (report.stdout_truncated or report.stderr_truncated or report.output_limit or report.timed_out)
    assert report.exit_code == 0 and not report.session_ended


@pytest.mark.parametrize("mode", ["oneshot", "session"])
def test_printed_output_over_the_cap_is_truncated(tmp_path: Path, mode: str) -> None:
    """No test hook: wherever the pump meets the overflow, the result says so."""
    frames, report = run_in(mode, f"print('x' * {WRITTEN}, end='')", tmp_path, stdout_bytes=CAP)
    assert joined(frames, "stdout") == b"x" * CAP
    assert report.stdout_truncated and report.output_limit == "stdout"


@pytest.mark.parametrize("mode", ["oneshot", "session"])
def test_a_wall_timeout_keeps_the_output_written_before_it(tmp_path: Path, mode: str) -> None:
    code = "import sys, time\nprint('started', flush=True)\nsys.stderr.write('err\\n')\ntime.sleep(30)\n"
    frames, report = run_in(mode, code, tmp_path, wall_time_s=0.5)
    assert joined(frames, "stdout") == b"started\n" and joined(frames, "stderr") == b"err\n"
    assert report.timed_out and report.signal == signal.SIGKILL and report.output_limit is None
    assert report.wall_ms < 5000
    assert report.session_ended == (mode == "session")


def test_stdin_larger_than_a_pipe_is_fed_while_output_is_forwarded(tmp_path: Path) -> None:
    data = bytes(range(256)) * 2048  # 512 KiB: the pump must interleave stdin and stdout
    spec = replace(exec_spec("cat", stdout_bytes=len(data)), stdin=data)
    frames, report = run_on_host(spec, tmp_path)
    assert joined(frames, "stdout") == data
    assert report is not None and report.exit_code == 0 and not report.stdout_truncated


def test_a_program_that_stops_reading_its_stdin_is_not_an_error(tmp_path: Path) -> None:
    spec = replace(exec_spec("head -c 10 >/dev/null; exec <&-; echo done"), stdin=b"y" * (1 << 20))
    frames, report = run_on_host(spec, tmp_path)
    assert joined(frames, "stdout") == b"done\n"
    assert report is not None and report.exit_code == 0 and not report.timed_out


def test_a_cell_that_closes_its_stdout_leaves_the_session_usable(tmp_path: Path) -> None:
    """A pipe at end of file leaves the pump's streams for good (no busy loop, no reused descriptor)."""
    with HostSession(tmp_path) as session:
        _, report = session.exec("import os\nos.close(1)")
        assert report is not None and report.exit_code == 0 and not report.session_ended
        frames, report = session.exec("import sys\nsys.stderr.write('still here')", wall_time_s=5)
        assert report is not None and not report.timed_out and not report.session_ended
        assert joined(frames, "stderr") == b"still here"
