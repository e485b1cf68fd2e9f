"""Runner sessions (``sandbox_runner.session``), driven over the real protocol on the host.

The runner runs through ``helpers.RUNNER_WRAPPER`` (``HostSession``): the opening
request has mode "session", then exec, put, get and close messages follow.
"""

from __future__ import annotations

import base64
import json
import signal
from pathlib import Path

from sandbox.engine import RunFile
from tests.unit.helpers import HostSession, joined


def error_of(frames) -> str:
    assert [f.kind for f in frames] == ["error"], frames
    return json.loads(frames[0].payload)["error"]


def test_cells_share_one_interpreter(tmp_path: Path) -> None:
    with HostSession(tmp_path, files=(RunFile("seed.txt", b"seed"),)) as session:
        _, report = session.exec("import os\nx = 41")
        assert report is not None and report.exit_code == 0 and not report.session_ended
        frames, report = session.exec("x += 1\nprint(__name__, x, os.getcwd(), open('seed.txt').read())")
        assert joined(frames, "stdout") == f"__main__ 42 {tmp_path} seed\n".encode()
        assert report is not None and report.exit_code == 0 and report.cpu_ms >= 0
        assert report.peak_memory_bytes > 0


def test_an_exception_is_reported_from_the_cell_and_keeps_the_session(tmp_path: Path) -> None:
    with HostSession(tmp_path) as session:
        frames, report = session.exec("def f():\n    raise KeyError('k')\nf()")
        stderr = joined(frames, "stderr").decode()
        assert stderr.startswith('Traceback (most recent call last):\n  File "<cell 1>", line 3, in <module>\n')
        assert "KeyError: 'k'" in stderr
        assert "sandbox_runner" not in stderr, "the traceback must start in the cell, not the runner"
        assert report is not None and report.exit_code == 1 and not report.session_ended
        frames, _ = session.exec("print(f.__name__)")
        assert joined(frames, "stdout") == b"f\n"


def test_system_exit_gives_the_cell_its_status(tmp_path: Path) -> None:
    with HostSession(tmp_path) as session:
        frames, report = session.exec("import sys\nsys.exit('bye')")
        assert report is not None and report.exit_code == 1 and not report.session_ended
        assert joined(frames, "stderr") == b"bye\n"


def test_an_interpreter_that_exits_ends_the_session(tmp_path: Path) -> None:
    with HostSession(tmp_path) as session:
        _, report = session.exec("import os\nos._exit(3)")
        assert report is not None and report.session_ended
        assert report.exit_code == 3 and report.signal is None
        assert error_of(session.exec("print(1)")[0]) == "the session has ended"


def test_a_timeout_ends_the_session(tmp_path: Path) -> None:
    with HostSession(tmp_path) as session:
        _, report = session.exec("import time\ntime.sleep(30)", wall_time_s=0.3)
        assert report is not None and report.timed_out and report.session_ended
        assert report.signal == signal.SIGKILL and report.wall_ms < 5000
        assert error_of(session.exec("print(1)")[0]) == "the session has ended"


def test_files_go_in_and_come_out_without_following_links(tmp_path: Path) -> None:
    with HostSession(tmp_path) as session:
        session.send({"op": "put", "path": "data/in.bin", "data": base64.b64encode(b"\x00\xff").decode()})
        assert [f.kind for f in session.answer()] == ["result"]
        session.exec("import os\nopen('out.txt', 'w').write('made')\nos.symlink('/etc/passwd', 'link')")
        session.send({"op": "get", "path": "out.txt"})
        frames = session.answer()
        assert [(f.kind, f.payload) for f in frames] == [("file", b"made"), ("result", b'{"ok": true}')]
        session.send({"op": "get", "path": "data/in.bin"})
        assert session.answer()[0].payload == b"\x00\xff"
        session.send({"op": "get", "path": "link"})
        assert error_of(session.answer()).startswith("OSError")
        session.send({"op": "get", "path": "../etc/passwd"})
        assert "invalid file path" in error_of(session.answer())


def test_unknown_operations_are_refused_and_close_ends_the_runner(tmp_path: Path) -> None:
    with HostSession(tmp_path) as session:
        session.send({"op": "shutdown"})
        assert error_of(session.answer()) == "unknown operation 'shutdown'"
        session.send({"op": "close"})
        assert session.next_frame() is None
        assert session.process.wait(timeout=10) == 0
