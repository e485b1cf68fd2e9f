"""A session cell like a notebook's (``sandbox_runner.session``): its last value displayed, figures saved,
an interrupt at the wall limit that keeps the interpreter, and the workdir listing; on the host.

The runner runs through ``helpers.RUNNER_WRAPPER`` (``HostSession``).
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from sandbox.engine import RunFile
from sandbox.engine.protocol import RunnerReport
from tests.unit.helpers import HostSession, cell_limits, joined, report_of

PNG = b"\x89PNG\r\n\x1a\n"
FIGURES = Path(__file__).parents[2] / "images" / "python" / "sandbox_figures.py"


def run(session: HostSession, code: str, grace_ms: int = 0, **limits: float):
    """One cell, with the interrupt grace the host would send."""
    session.send({"op": "exec", "code": code, "limits": {**cell_limits(**limits), "interrupt_grace_ms": grace_ms}})
    frames = session.answer()
    report = report_of(frames)
    assert report is not None, frames
    return frames, report


# --------------------------------------------------------------------------------- the last expression
def test_the_last_expression_is_displayed_as_its_repr(tmp_path: Path) -> None:
    with HostSession(tmp_path) as session:
        frames, report = run(session, "x = 41\nx + 1")
        assert joined(frames, "stdout") == b"42\n" and report.exit_code == 0
        frames, _ = run(session, "'text'")
        assert joined(frames, "stdout") == b"'text'\n"
        frames, _ = run(session, "None")
        assert joined(frames, "stdout") == b""
        frames, _ = run(session, "x = 5\nx;")  # a trailing semicolon hides it, as in IPython
        assert joined(frames, "stdout") == b""
        frames, _ = run(session, "print(repr(_))")  # the REPL's underscore holds the last value shown
        assert joined(frames, "stdout") == b"'text'\n"
        frames, _ = run(session, "if x:\n    x")  # only a last statement that is an expression
        assert joined(frames, "stdout") == b""


def test_tracebacks_still_start_in_the_cell(tmp_path: Path) -> None:
    with HostSession(tmp_path) as session:
        frames, report = run(session, "a = 1\n1 / 0")
        stderr = joined(frames, "stderr").decode()
        assert stderr.startswith('Traceback (most recent call last):\n  File "<cell 1>", line 2, in <module>\n')
        assert "ZeroDivisionError" in stderr and "sandbox_runner" not in stderr
        assert report.exit_code == 1 and not report.session_ended
        frames, report = run(session, "x = (")
        assert "SyntaxError" in joined(frames, "stderr").decode() and report.exit_code == 1


def test_a_failing_repr_is_the_cells_exception(tmp_path: Path) -> None:
    code = "class Bad:\n    def __repr__(self):\n        raise ValueError('no repr')\nBad()"
    with HostSession(tmp_path) as session:
        frames, report = run(session, code)
        stderr = joined(frames, "stderr").decode()
        assert 'File "<cell 1>", line 3, in __repr__' in stderr and "ValueError: no repr" in stderr
        assert "sandbox_runner" not in stderr, stderr
        assert report.exit_code == 1 and not report.session_ended
        frames, _ = run(session, "print('alive')")
        assert joined(frames, "stdout") == b"alive\n"


def test_a_repr_past_the_stdout_cap_is_cut_like_any_output(tmp_path: Path) -> None:
    with HostSession(tmp_path) as session:
        frames, report = run(session, "'x' * 300_000", stdout_bytes=100_000)
        assert len(joined(frames, "stdout")) == 100_000
        assert report.stdout_truncated and report.output_limit == "stdout" and report.session_ended


@pytest.mark.parametrize(
    ("returned", "shown"),
    [
        ("PNG + b'rest'", None),
        ("b'not a png'", "bytes that are not a PNG"),
        ("'a string'", "str"),
        ("42", "int"),
        ("(PNG + b'rest', {'width': 1})", None),
    ],
    ids=["png", "garbage-bytes", "str", "int", "with-metadata"],
)
def test_repr_png_becomes_a_png_file_or_text(tmp_path: Path, returned: str, shown: str | None) -> None:
    code = (
        f"PNG = {PNG!r}\n"
        "class Picture:\n"
        f"    def _repr_png_(self):\n        return {returned}\n"
        "    def __repr__(self):\n        return 'Picture()'\n"
        "Picture()"
    )
    with HostSession(tmp_path) as session:
        frames, report = run(session, code)
        assert report.exit_code == 0
        if shown is None:
            assert (tmp_path / "out" / "display-1.png").read_bytes() == PNG + b"rest"
            assert joined(frames, "stdout") == b""
        else:
            assert not (tmp_path / "out").exists()
            assert joined(frames, "stdout") == b"Picture()\n"
            assert f"_repr_png_() returned {shown}; shown as text" in joined(frames, "stderr").decode()


def test_display_files_are_numbered_and_never_overwritten(tmp_path: Path) -> None:
    code = f"class P:\n    def _repr_png_(self):\n        return {PNG!r}\nP()"
    with HostSession(tmp_path) as session:
        run(session, code)
        run(session, "P()")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["display-1.png", "display-2.png"]


def test_a_raising_repr_png_is_the_cells_exception(tmp_path: Path) -> None:
    code = "class P:\n    def _repr_png_(self):\n        raise RuntimeError('no png')\nP()"
    with HostSession(tmp_path) as session:
        frames, report = run(session, code)
        assert "RuntimeError: no png" in joined(frames, "stderr").decode() and report.exit_code == 1
        assert not report.session_ended


FIGURE_SETUP = (
    "import os, sys\n"
    "os.environ['MPLBACKEND'] = 'module://sandbox_figures'\n"
    "os.environ['SANDBOX_FIGURES_DIR'] = os.path.join(os.getcwd(), 'out')\n"
)


@pytest.fixture
def figures_session(tmp_path: Path):
    pytest.importorskip("matplotlib")
    with HostSession(tmp_path, files=(RunFile("sandbox_figures.py", FIGURES.read_bytes()),)) as session:
        _, report = run(session, FIGURE_SETUP)
        assert report.exit_code == 0
        yield session


def test_a_cell_that_does_not_plot_does_not_load_matplotlib(tmp_path: Path, figures_session: HostSession) -> None:
    frames, _ = run(figures_session, "print('matplotlib' in sys.modules, 'sandbox_figures' in sys.modules)")
    assert joined(frames, "stdout") == b"False False\n"


def test_figures_left_open_and_a_figure_shown_are_saved(tmp_path: Path, figures_session: HostSession) -> None:
    frames, report = run(figures_session, "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])")
    assert report.exit_code == 0 and joined(frames, "stdout") == b""  # no [<Line2D ...>] text
    assert (tmp_path / "out" / "figure-1.png").read_bytes().startswith(PNG)
    # A figure made without pyplot (not open) is saved when it is the last value.
    run(figures_session, "from matplotlib.figure import Figure\nfig = Figure()\nfig.add_subplot().plot([3, 1])\nfig")
    assert (tmp_path / "out" / "figure-2.png").read_bytes().startswith(PNG)
    # An open figure shown as the last value is saved once, with the others.
    run(figures_session, "f = plt.figure()\nplt.plot([1])\nf")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["figure-1.png", "figure-2.png", "figure-3.png"]
    frames, _ = run(figures_session, "print(plt.get_fignums())")  # saved and closed after each cell
    assert joined(frames, "stdout") == b"[]\n"


# ----------------------------------------------------------------------------------------- interrupts
def test_a_cell_past_its_wall_limit_is_interrupted_and_the_state_kept(tmp_path: Path) -> None:
    with HostSession(tmp_path) as session:
        run(session, "x = 1")
        started = time.monotonic()
        frames, report = run(session, "while True:\n    pass", grace_ms=2000, wall_time_s=0.5)
        assert time.monotonic() - started < 2
        assert report.timed_out and report.interrupted and not report.session_ended
        assert report.exit_code == 1 and report.signal is None
        assert "KeyboardInterrupt" in joined(frames, "stderr").decode()
        frames, report = run(session, "print(x)")
        assert joined(frames, "stdout") == b"1\n" and not report.timed_out and not report.interrupted


def test_without_a_grace_the_timeout_still_ends_the_session(tmp_path: Path) -> None:
    with HostSession(tmp_path) as session:
        _, report = run(session, "while True:\n    pass", wall_time_s=0.3)
        assert report.timed_out and not report.interrupted and report.session_ended
        assert report.signal == signal.SIGKILL


@pytest.mark.parametrize(
    "code",
    [
        "import time\nwhile True:\n    try:\n        time.sleep(10)\n    except KeyboardInterrupt:\n        pass",
        "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(30)",
    ],
    ids=["catches-keyboardinterrupt", "ignores-sigint"],
)
def test_a_cell_that_resists_the_interrupt_is_killed_after_the_grace(tmp_path: Path, code: str) -> None:
    with HostSession(tmp_path) as session:
        started = time.monotonic()
        _, report = run(session, code, grace_ms=500, wall_time_s=0.3)
        assert time.monotonic() - started < 4
        assert report.timed_out and not report.interrupted and report.session_ended
        assert report.signal == signal.SIGKILL


def test_a_cell_with_its_own_sigint_handler_that_raises_keeps_the_session(tmp_path: Path) -> None:
    code = (
        "import signal, time\n"
        "def stop(*_):\n    raise RuntimeError('stopped by my handler')\n"
        "signal.signal(signal.SIGINT, stop)\n"
        "time.sleep(30)"
    )
    with HostSession(tmp_path) as session:
        frames, report = run(session, code, grace_ms=2000, wall_time_s=0.3)
        assert report.timed_out and report.interrupted and not report.session_ended
        assert "RuntimeError: stopped by my handler" in joined(frames, "stderr").decode()
        frames, _ = run(session, "print('next')")  # its handler stays; a cell in time never sees it
        assert joined(frames, "stdout") == b"next\n"


def test_output_printed_before_an_interrupt_comes_back(tmp_path: Path) -> None:
    with HostSession(tmp_path) as session:
        frames, report = run(
            session, "print('before', flush=True)\nwhile True:\n    pass", grace_ms=2000, wall_time_s=0.3
        )
        assert joined(frames, "stdout") == b"before\n" and report.interrupted


# ------------------------------------------------------------------------------------------- listing
def listing(session: HostSession, **body: object) -> dict:
    session.send({"op": "list", **body})
    frames = session.answer()
    assert [f.kind for f in frames] == ["file", "result"], frames
    return json.loads(frames[0].payload)


def test_the_workdir_is_listed_without_following_links(tmp_path: Path) -> None:
    code = (
        "import os\nos.makedirs('data/deep')\nopen('data/a.txt', 'w').write('abc')\n"
        "open('data/deep/b.bin', 'wb').write(b'12345')\nos.symlink('/etc', 'etc')\nos.mkfifo('pipe')"
    )
    with HostSession(tmp_path, files=(RunFile("seed.txt", b"seed"),)) as session:
        run(session, code)
        found = listing(session)
    entries = {e["path"]: (e["type"], e["size"] if e["type"] == "file" else None) for e in found["entries"]}
    assert entries == {
        "data": ("dir", None),
        "data/a.txt": ("file", 3),
        "data/deep": ("dir", None),
        "data/deep/b.bin": ("file", 5),
        "etc": ("link", None),
        "pipe": ("other", None),
        "seed.txt": ("file", 4),
    }
    assert found["truncated"] is False


def test_a_listing_is_bounded(tmp_path: Path) -> None:
    with HostSession(tmp_path) as session:
        run(session, "for i in range(50):\n    open(f'f{i:02}', 'w').close()")
        found = listing(session, max_entries=10)
    assert [e["path"] for e in found["entries"]] == [f"f{i:02}" for i in range(10)] and found["truncated"]


def test_a_missing_file_is_said_to_be_missing(tmp_path: Path) -> None:
    with HostSession(tmp_path) as session:
        for path in ("missing", "no/such/dir"):
            session.send({"op": "get", "path": path})
            frames = session.answer()
            assert [f.kind for f in frames] == ["error"]
            body = json.loads(frames[0].payload)
            assert body["missing"] is True and repr(path) in body["error"] and str(tmp_path) not in body["error"]


def test_reports_parse_the_interrupted_flag() -> None:
    base = {"exit_code": 1, "wall_ms": 1, "cpu_ms": 0, "peak_memory_bytes": 0, "timed_out": True}
    assert RunnerReport.parse(json.dumps({**base, "interrupted": True}).encode()).interrupted
    assert not RunnerReport.parse(json.dumps(base).encode()).interrupted
