"""Runner sessions (``sandbox_runner.session``), driven over the real protocol on the host.

The runner runs through ``helpers.RUNNER_WRAPPER`` (``HostSession``): the opening
request has mode "session", then exec, put, get and close messages follow.
"""

from __future__ import annotations

import base64
import json
import signal
import threading
import time
from pathlib import Path

import pytest

from sandbox.engine import RunFile
from tests.unit.helpers import HostSession, joined, load_runner


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
        assert error_of(session.answer()) == "ValueError: 'link' is a symbolic link"
        session.send({"op": "get", "path": "../etc/passwd"})
        assert "invalid file path" in error_of(session.answer())


def test_unknown_operations_are_refused_and_close_ends_the_runner(tmp_path: Path) -> None:
    with HostSession(tmp_path) as session:
        session.send({"op": "shutdown"})
        assert error_of(session.answer()) == "unknown operation 'shutdown'"
        session.send({"op": "close"})
        assert session.next_frame() is None
        assert session.process.wait(timeout=10) == 0


SPECIAL_FILES = {
    "fifo": "import os\nos.mkfifo('special')",
    "fifo-with-a-reader": "import os, threading\nos.mkfifo('special')\n"
    "threading.Thread(target=lambda: open('special').read(), daemon=True).start()",
    "socket": "import socket\ns = socket.socket(socket.AF_UNIX)\ns.bind('special')\ns.listen()",
    "link-to-a-fifo": "import os\nos.mkfifo('fifo')\nos.symlink('fifo', 'special')",
    "directory": "import os\nos.mkdir('special')",
}


@pytest.mark.parametrize("op", ["get", "put"])
@pytest.mark.parametrize("code", SPECIAL_FILES.values(), ids=SPECIAL_FILES.keys())
def test_special_files_are_refused_and_the_session_goes_on(tmp_path: Path, code: str, op: str) -> None:
    with HostSession(tmp_path) as session:
        _, report = session.exec(code)
        assert report is not None and report.exit_code == 0
        body = {"op": op, "path": "special"} | ({"data": base64.b64encode(b"x").decode()} if op == "put" else {})
        session.send(body)
        started = time.monotonic()
        reason = error_of(session.answer())
        assert time.monotonic() - started < 2, "the runner waited on a special file"
        assert reason.startswith("ValueError: 'special' is ") or reason.startswith("IsADirectoryError"), reason
        frames, report = session.exec("print('next')")
        assert joined(frames, "stdout") == b"next\n" and report is not None and report.exit_code == 0


def test_a_file_growing_while_it_is_read_is_cut_at_the_cap(tmp_path: Path) -> None:
    runner = load_runner()
    runner.workspace.WORKDIR = str(tmp_path)
    runner.workspace.MAX_FILE_BYTES = 1 << 20
    stop = threading.Event()

    def grow() -> None:
        with open(tmp_path / "growing", "ab") as f:
            while not stop.is_set():
                f.write(b"x" * 65536)
                f.flush()

    (tmp_path / "growing").write_bytes(b"")
    writer = threading.Thread(target=grow)
    writer.start()
    try:
        while (tmp_path / "growing").stat().st_size < 2 << 20:
            time.sleep(0.01)
        with pytest.raises(ValueError, match="over the 1048576 byte cap"):
            runner.workspace.read_file("growing")
    finally:
        stop.set()
        writer.join()


def test_a_file_at_the_cap_is_read_whole(tmp_path: Path) -> None:
    runner = load_runner()
    runner.workspace.WORKDIR = str(tmp_path)
    runner.workspace.MAX_FILE_BYTES = 1000
    (tmp_path / "exact").write_bytes(b"y" * 1000)
    assert runner.workspace.read_file("exact") == b"y" * 1000
    (tmp_path / "over").write_bytes(b"y" * 1001)
    with pytest.raises(ValueError, match="cap"):
        runner.workspace.read_file("over")


FORGED = {
    "not-an-object": b"[1]",
    "bad-exit-code": b'{"cell": 1, "exit_code": "x"}',
    "a-later-cell": b'{"cell": 7, "exit_code": 0}',
    "not-json": b"{{{{",
}


@pytest.mark.parametrize("reply", FORGED.values(), ids=FORGED.keys())
def test_a_forged_reply_kills_the_interpreter_and_ends_only_the_session(tmp_path: Path, reply: bytes) -> None:
    code = (
        f"import os, struct, time\nreply = {reply!r}\nos.write(4, struct.pack('>I', len(reply)) + reply)\ntime.sleep(5)"
    )
    with HostSession(tmp_path) as session:
        started = time.monotonic()
        _, report = session.exec(code)
        assert time.monotonic() - started < 3
        assert report is not None and report.session_ended and report.session_end == "reply"
        assert report.signal == signal.SIGKILL
        assert error_of(session.exec("print(1)")[0]) == "the session has ended"


@pytest.mark.parametrize(
    "header",
    [b"\xff\xff\xff\xff", b"\x00\x00\x10\x00"],
    ids=["four-gigabytes", "past-the-reply-cap"],
)
def test_a_huge_length_on_the_result_pipe_does_not_stall_the_runner(tmp_path: Path, header: bytes) -> None:
    with HostSession(tmp_path) as session:
        started = time.monotonic()
        _, report = session.exec(f"import os, time\nos.write(4, {header!r})\ntime.sleep(5)")
        assert time.monotonic() - started < 3, "the runner waited for the rest of a forged message"
        assert report is not None and report.session_end == "reply"


def test_a_partial_message_on_the_result_pipe_ends_the_session_at_the_reply(tmp_path: Path) -> None:
    with HostSession(tmp_path) as session:
        _, report = session.exec("import os\nos.write(4, b'\\x00\\x00')")
        assert report is not None and report.session_end == "reply" and report.session_ended


def test_a_reply_forged_for_its_own_cell_only_answers_for_that_cell(tmp_path: Path) -> None:
    code = (
        'import os, struct, time\nreply = b\'{"cell": 1, "exit_code": 0}\'\n'
        "os.write(4, struct.pack('>I', len(reply)) + reply)\ntime.sleep(0.5)\nprint('late')"
    )
    with HostSession(tmp_path) as session:
        frames, report = session.exec(code)
        assert report is not None and report.exit_code == 0 and not report.session_ended
        # The real reply of cell 1 arrives during cell 2: it is taken for neither.
        frames, report = session.exec("print('two')")
        assert b"two\n" in joined(frames, "stdout")
        assert report is not None and report.exit_code == 0 and not report.session_ended
        frames, report = session.exec("print('three')")
        assert joined(frames, "stdout") == b"three\n" and report is not None and not report.session_ended


def test_the_program_is_stopped_between_cells(tmp_path: Path) -> None:
    spin = (
        "import threading, time\ncount = [0]\n"
        "def spin():\n    while True:\n        count[0] += 1\n"
        "threading.Thread(target=spin, daemon=True).start()\ntime.sleep(0.05)"
    )
    with HostSession(tmp_path) as session:
        session.exec(spin)
        frames, _ = session.exec("print(count[0])")
        before = int(joined(frames, "stdout"))
        time.sleep(0.5)
        frames, _ = session.exec("print(count[0])")
        after = int(joined(frames, "stdout"))
        # The thread ran only during the second cell (a few ms), not for the half second between.
        frames, _ = session.exec("c = count[0]\ntime.sleep(0.5)\nprint(count[0] - c)")
        during = int(joined(frames, "stdout"))
    assert after - before < during / 5, (before, after, during)
