"""The in-container runner (images/runner/sandbox_runner.py), exercised on the host.

The runner is loaded by path. End-to-end tests run it as a subprocess through
``helpers.RUNNER_WRAPPER``, which disables ``kill_everything_else``: unpatched, the
runner SIGKILLs every process it can see, which on the host is everything we own.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from sandbox.engine import RunFile, RunSpec
from sandbox.engine.protocol import Frame, FrameParser, RunnerReport, encode_request
from tests.unit.helpers import RUNNER_PATH, RUNNER_WRAPPER, make_limits, run_runner_on_host


def file_spec(path: str, data: bytes = b"data", mode: int = 0o644) -> dict:
    return {"path": path, "data": base64.b64encode(data).decode(), "mode": mode}


@pytest.fixture
def workdir(runner: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    work = tmp_path / "workspace"
    work.mkdir()
    monkeypatch.setattr(runner, "WORKDIR", str(work))
    return work


# ------------------------------------------------------------------ safe_relpath


@pytest.mark.parametrize("path", ["main.py", "a/b/c.txt", ".hidden", "a..b", "x" * 300])
def test_safe_relpath_accepts(runner: ModuleType, path: str) -> None:
    assert runner.safe_relpath(path) == path


@pytest.mark.parametrize(
    "path", ["", "/etc/passwd", "..", "../x", "a/../b", ".", "./a", "a/./b", "a//b", "a/", "a\x00b", "/"]
)
def test_safe_relpath_rejects(runner: ModuleType, path: str) -> None:
    with pytest.raises(ValueError, match="invalid file path"):
        runner.safe_relpath(path)


# ------------------------------------------------------------------- write_files


def test_write_files_creates_nested_files_with_modes(runner: ModuleType, workdir: Path) -> None:
    old_umask = os.umask(0o022)
    try:
        runner.write_files(
            [
                file_spec("main.py", b"print(1)\n"),
                file_spec("bin/run.sh", b"#!/bin/sh\n", 0o755),
                file_spec("deep/er/still/secret.txt", b"\x00\xff", 0o600),
                file_spec("empty", b""),
                {"path": "defaults.txt", "data": base64.b64encode(b"d").decode()},
                file_spec("setuid", b"x", 0o4755),
            ]
        )
    finally:
        os.umask(old_umask)
    assert (workdir / "main.py").read_bytes() == b"print(1)\n"
    assert (workdir / "bin" / "run.sh").read_bytes() == b"#!/bin/sh\n"
    assert (workdir / "deep" / "er" / "still" / "secret.txt").read_bytes() == b"\x00\xff"
    assert (workdir / "empty").read_bytes() == b""

    def mode(name: str) -> int:
        return stat.S_IMODE((workdir / name).stat().st_mode)

    assert mode("main.py") == 0o644
    assert mode("bin/run.sh") == 0o755
    assert mode("deep/er/still/secret.txt") == 0o600
    assert mode("defaults.txt") == 0o644
    assert mode("setuid") == 0o755, "set-id bits are masked off"
    assert (workdir / "deep" / "er").is_dir()


def test_write_files_overwrites_an_existing_file(runner: ModuleType, workdir: Path) -> None:
    (workdir / "f").write_bytes(b"old content that is longer")
    runner.write_files([file_spec("f", b"new")])
    assert (workdir / "f").read_bytes() == b"new"


def test_write_files_large_file(runner: ModuleType, workdir: Path) -> None:
    blob = os.urandom(3 << 20)
    runner.write_files([file_spec("big.bin", blob)])
    assert (workdir / "big.bin").read_bytes() == blob


@pytest.mark.parametrize("path", ["../escape", "/abs", "a/../../escape"])
def test_write_files_refuses_bad_paths(runner: ModuleType, workdir: Path, path: str) -> None:
    with pytest.raises(ValueError):
        runner.write_files([file_spec(path)])
    assert not (workdir.parent / "escape").exists()


def test_write_files_does_not_follow_a_symlinked_file(runner: ModuleType, workdir: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"precious")
    (workdir / "link").symlink_to(outside)
    with pytest.raises(OSError):
        runner.write_files([file_spec("link", b"overwritten")])
    assert outside.read_bytes() == b"precious"
    assert (workdir / "link").is_symlink()


def test_write_files_does_not_follow_a_symlinked_directory(runner: ModuleType, workdir: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_bytes(b"precious")
    (workdir / "dir").symlink_to(outside, target_is_directory=True)
    for name in ("victim", "new-file"):
        with pytest.raises(OSError):
            runner.write_files([file_spec(f"dir/{name}", b"overwritten")])
    with pytest.raises(OSError):
        runner.write_files([file_spec("dir/sub/new-file", b"overwritten")])
    assert sorted(p.name for p in outside.iterdir()) == ["victim"]
    assert (outside / "victim").read_bytes() == b"precious"


def test_write_files_does_not_follow_a_dangling_symlink(runner: ModuleType, workdir: Path, tmp_path: Path) -> None:
    target = tmp_path / "would-be-created"
    (workdir / "dangling").symlink_to(target)
    with pytest.raises(OSError):
        runner.write_files([file_spec("dangling", b"x")])
    assert not target.exists()


@pytest.mark.parametrize(
    ("paths", "error"),
    [
        (["a", "a/b"], NotADirectoryError),
        (["a/b", "a"], IsADirectoryError),
        (["main.py", "main.py/x"], NotADirectoryError),
    ],
)
def test_write_files_fails_when_a_path_is_both_file_and_directory(
    runner: ModuleType, workdir: Path, paths: list[str], error: type[OSError]
) -> None:
    """The request layer lets these through (see test_service); the runner then fails the run."""
    with pytest.raises(error):
        runner.write_files([file_spec(p) for p in paths])


def test_write_files_does_not_leak_descriptors(runner: ModuleType, workdir: Path) -> None:
    fds_before = set(os.listdir("/proc/self/fd"))
    runner.write_files([file_spec(f"d{i}/e/f.txt") for i in range(20)])
    with pytest.raises(OSError):
        runner.write_files([file_spec("d0/e/f.txt/bad")])
    assert set(os.listdir("/proc/self/fd")) == fds_before


# -------------------------------------------------------------- end to end, on host


def run(spec: RunSpec, workdir: Path, **kwargs: Path) -> tuple[list[Frame], RunnerReport | None]:
    completed = run_runner_on_host(encode_request(spec), workdir, **kwargs)
    parser = FrameParser()
    frames = list(parser.feed(completed.stdout))
    assert parser.pending == 0, "the runner left a partial frame"
    report = RunnerReport.parse(frames[-1].payload) if frames and frames[-1].kind == "result" else None
    return frames, report


def exec_spec(script: str, **limits: float) -> RunSpec:
    return RunSpec(
        image="unused",
        mode="exec",
        argv=("sh", "-c", script),
        files=(),
        limits=make_limits(**({"wall_time_s": 5.0} | limits)),
        nofile=64,
    )


def joined(frames: list[Frame], kind: str) -> bytes:
    return b"".join(f.payload for f in frames if f.kind == kind)


def test_the_wrapper_makes_the_runner_harmless() -> None:
    """Guard for every test below: never run the runner on the host unpatched."""
    assert "runner.kill_everything_else = _no_kill_everything_else" in RUNNER_WRAPPER
    assert "def kill_everything_else" in RUNNER_PATH.read_text()
    # The second guard: signals to anything the runner did not fork are refused (probed with signal 0).
    probe = RUNNER_WRAPPER.replace(
        "sys.exit(runner.main())",
        "for call, target in ((runner.os.kill, os.getppid()), (runner.os.killpg, os.getpgid(0))):\n"
        "    try:\n"
        "        call(target, 0)\n"
        "    except PermissionError:\n"
        "        print('guarded')\n",
    )
    assert probe != RUNNER_WRAPPER
    completed = subprocess.run(
        [sys.executable, "-I", "-c", probe, str(RUNNER_PATH)], capture_output=True, timeout=15, check=False
    )
    assert completed.stdout == b"guarded\nguarded\n", completed.stderr


def test_end_to_end_exec(tmp_path: Path) -> None:
    frames, report = run(exec_spec("echo hi; echo err >&2; exit 3"), tmp_path)
    kinds = [f.kind for f in frames]
    assert kinds[0] == "hello" and json.loads(frames[0].payload) == {"v": 1}
    assert kinds[-1] == "result" and kinds.count("result") == 1
    assert set(kinds[1:-1]) <= {"stdout", "stderr"}
    assert joined(frames, "stdout") == b"hi\n"
    assert joined(frames, "stderr") == b"err\n"
    assert report is not None
    assert report.exit_code == 3 and report.signal is None
    assert not (report.timed_out or report.output_limit or report.cpu_limit_hit)


def test_end_to_end_files_stdin_env_and_cwd(tmp_path: Path) -> None:
    spec = RunSpec(
        image="unused",
        mode="exec",
        argv=("sh", "-c", 'cat data/in.txt; echo " $GREETING $(pwd) $(cat)"'),
        files=(RunFile("data/in.txt", b"file-content"),),
        limits=make_limits(),
        stdin=b"from-stdin",
        env={"GREETING": "hello"},
    )
    frames, report = run(spec, tmp_path)
    assert joined(frames, "stdout") == f"file-content hello {tmp_path} from-stdin\n".encode()
    assert report is not None and report.exit_code == 0
    assert (tmp_path / "data" / "in.txt").read_bytes() == b"file-content"


def test_end_to_end_python_mode(tmp_path: Path) -> None:
    code = b"import sys\nprint(__name__, sys.argv)\nraise ValueError('boom')\n"
    spec = RunSpec(
        image="unused",
        mode="python",
        argv=("python3", "main.py", "x", "y"),
        files=(RunFile("main.py", code),),
        limits=make_limits(),
    )
    frames, report = run(spec, tmp_path)
    assert joined(frames, "stdout") == b"__main__ ['main.py', 'x', 'y']\n"
    stderr = joined(frames, "stderr").decode()
    assert "ValueError: boom" in stderr
    assert 'main.py", line 3' in stderr
    assert "sandbox_runner" not in stderr, "the traceback must start in the program, not the runner"
    assert report is not None and report.exit_code == 1


def python_spec(code: str) -> RunSpec:
    return RunSpec(
        image="unused",
        mode="python",
        argv=("python3", "main.py"),
        files=(RunFile("main.py", code.encode()),),
        limits=make_limits(),
    )


@pytest.mark.parametrize(
    ("code", "exit_code", "stderr"),
    [
        ("import sys; sys.exit()", 0, b""),
        ("import sys; sys.exit(256 + 7)", 7, b""),
        ("import sys; sys.exit(-1)", 255, b""),
        ("import sys; sys.exit('goodbye')", 1, b"goodbye\n"),
    ],
)
def test_end_to_end_python_exit_status(tmp_path: Path, code: str, exit_code: int, stderr: bytes) -> None:
    """Like `python3 main.py`: SystemExit codes, messages and the default status."""
    frames, report = run(python_spec(code), tmp_path)
    assert report is not None and report.exit_code == exit_code
    assert joined(frames, "stderr") == stderr


def test_end_to_end_python_shutdown_promises(tmp_path: Path) -> None:
    """Unflushed output, atexit handlers and non-daemon threads all complete, as at interpreter exit."""
    code = (
        "import atexit, sys, threading, time\n"
        "def late():\n"
        "    time.sleep(0.05)\n"
        "    print('thread', flush=True)\n"
        "threading.Thread(target=late).start()\n"
        "atexit.register(lambda: print('atexit'))\n"
        "sys.stdout.write('unflushed ')\n"
        "sys.exit(6)\n"
    )
    frames, report = run(python_spec(code), tmp_path)
    stdout = joined(frames, "stdout")
    assert stdout.startswith(b"unflushed ")
    assert stdout.index(b"thread") < stdout.index(b"atexit"), stdout
    assert report is not None and report.exit_code == 6


def test_end_to_end_python_syntax_error(tmp_path: Path) -> None:
    frames, report = run(python_spec("def broken(:\n"), tmp_path)
    stderr = joined(frames, "stderr").decode()
    assert "SyntaxError" in stderr and "main.py" in stderr
    assert "sandbox_runner" not in stderr
    assert report is not None and report.exit_code == 1


def test_end_to_end_wall_timeout(tmp_path: Path) -> None:
    frames, report = run(exec_spec("echo started; sleep 5", wall_time_s=0.3), tmp_path)
    assert joined(frames, "stdout") == b"started\n"
    assert report is not None
    assert report.timed_out
    assert report.signal == signal.SIGKILL
    assert report.wall_ms < 3000


def test_end_to_end_output_limit(tmp_path: Path) -> None:
    frames, report = run(exec_spec("while :; do echo 0123456789; done", stdout_bytes=100), tmp_path)
    assert joined(frames, "stdout") == (b"0123456789\n" * 10)[:100]
    assert report is not None
    assert report.output_limit == "stdout" and report.stdout_truncated
    assert report.signal == signal.SIGKILL


def test_end_to_end_sigxcpu_is_reported_as_cpu_limit(tmp_path: Path) -> None:
    _, report = run(exec_spec("kill -XCPU $$"), tmp_path)
    assert report is not None
    assert report.signal == signal.SIGXCPU
    assert report.cpu_limit_hit


def test_end_to_end_signal(tmp_path: Path) -> None:
    _, report = run(exec_spec("kill -TERM $$"), tmp_path)
    assert report is not None
    assert report.signal == signal.SIGTERM and report.exit_code is None and not report.cpu_limit_hit


def test_end_to_end_program_not_found(tmp_path: Path) -> None:
    spec = RunSpec(image="u", mode="exec", argv=("/nonexistent/prog",), files=(), limits=make_limits())
    frames, report = run(spec, tmp_path)
    assert b"cannot start program" in joined(frames, "stderr")
    assert report is not None and report.exit_code == 127


def test_end_to_end_bad_request_gets_an_error_frame(tmp_path: Path) -> None:
    completed = run_runner_on_host(b"NOPE\x00\x00\x00\x02{}", tmp_path)
    frames = list(FrameParser().feed(completed.stdout))
    assert [f.kind for f in frames] == ["hello", "error"]
    assert "bad magic" in json.loads(frames[-1].payload)["error"]
    assert completed.returncode == 2


def test_end_to_end_symlink_in_workdir_gives_an_error_frame(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"precious")
    (work / "main.py").symlink_to(outside)
    spec = RunSpec(
        image="u", mode="python", argv=("python3", "main.py"), files=(RunFile("main.py", b"x"),), limits=make_limits()
    )
    frames, report = run(spec, work)
    assert report is None
    assert frames[-1].kind == "error"
    assert outside.read_bytes() == b"precious"


def test_wall_timeout_kills_a_child_that_has_not_called_setsid_yet(tmp_path: Path) -> None:
    # The child is held before child_setup (which calls setsid) until the runner's timeout
    # path has called os.killpg: the order a very short wall limit or a slow fork produces.
    work = tmp_path / "work"
    work.mkdir()
    spec = exec_spec("sleep 0.3", wall_time_s=0.05)
    _, report = run(spec, work, hold_child_until_killpg=tmp_path / "killpg-called")
    assert (tmp_path / "killpg-called").exists(), "the runner never tried to kill the program"
    assert report is not None and report.timed_out
    assert report.signal == signal.SIGKILL, f"the program ran to completion: exit_code={report.exit_code}"
