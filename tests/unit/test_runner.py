"""The in-container runner (images/runner/sandbox_runner/), one-shot runs exercised on the host.

These tests run the real runner as a subprocess through ``helpers.RUNNER_WRAPPER``,
which disables ``kill_everything_else``: unpatched, the runner SIGKILLs every
process it can see, which on the host is everything we own.
"""

from __future__ import annotations

import ast
import json
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from sandbox.engine import RunFile, RunSpec
from sandbox.engine.protocol import FrameParser, encode_request
from tests.unit.helpers import (
    HOLD_CHILD_UNTIL_KILLPG,
    RUNNER_DIR,
    RUNNER_PACKAGE,
    RUNNER_WRAPPER,
    exec_spec,
    joined,
    make_limits,
    parse_frames,
    python_spec,
    run_on_host,
    run_runner_on_host,
    runner_argv,
    runner_env,
)


def test_the_wrapper_makes_the_runner_harmless(tmp_path: Path) -> None:
    """Guard for every test below: never run the runner on the host unpatched."""
    assert "processes.kill_everything_else = _no_kill_everything_else" in RUNNER_WRAPPER
    assert "def kill_everything_else" in (RUNNER_PACKAGE / "processes.py").read_text()
    # The second guard: signals to anything the runner did not fork are refused (probed with signal 0).
    probe = RUNNER_WRAPPER.replace(
        "sys.exit(runner.main())",
        "for call, target in ((processes.os.kill, os.getppid()), (processes.os.killpg, os.getpgid(0))):\n"
        "    try:\n"
        "        call(target, 0)\n"
        "    except PermissionError:\n"
        "        print('guarded')\n",
    )
    assert probe != RUNNER_WRAPPER
    env = runner_env(tmp_path / "work")
    completed = subprocess.run(runner_argv(wrapper=probe), capture_output=True, env=env, timeout=15, check=False)
    assert completed.stdout == b"guarded\nguarded\n", completed.stderr


def test_the_wrapper_refuses_a_runner_that_keeps_kill_everything_else_under_another_name(tmp_path: Path) -> None:
    """A module that imported the function by name would escape the patch: the wrapper must not run it."""
    shutil.copytree(RUNNER_PACKAGE, tmp_path / "sandbox_runner", ignore=shutil.ignore_patterns("__pycache__"))
    oneshot = tmp_path / "sandbox_runner" / "oneshot.py"
    oneshot.write_text(oneshot.read_text() + "\nfrom .processes import kill_everything_else\n")
    env = runner_env(tmp_path / "work")
    completed = subprocess.run(runner_argv(tmp_path), input=b"", capture_output=True, env=env, timeout=15, check=False)
    assert b"refusing to run: the runner is not made harmless" in completed.stderr
    assert completed.stdout == b"", "the runner started"


def test_the_wrapper_refuses_to_run_with_the_hosts_tmp(tmp_path: Path) -> None:
    """The runner empties its /tmp after a compile and between test cases: never the host's."""
    env = {**runner_env(tmp_path / "work"), "SANDBOX_TMP": "/tmp"}
    completed = subprocess.run(runner_argv(), input=b"", capture_output=True, env=env, timeout=15, check=False)
    assert b"refusing to run: the runner is not made harmless" in completed.stderr
    assert completed.stdout == b""


def test_end_to_end_exec(tmp_path: Path) -> None:
    frames, report = run_on_host(exec_spec("echo hi; echo err >&2; exit 3"), tmp_path)
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
    frames, report = run_on_host(spec, tmp_path)
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
    frames, report = run_on_host(spec, tmp_path)
    assert joined(frames, "stdout") == b"__main__ ['main.py', 'x', 'y']\n"
    stderr = joined(frames, "stderr").decode()
    assert "ValueError: boom" in stderr
    assert stderr.startswith(f'Traceback (most recent call last):\n  File "{tmp_path}/main.py", line 3, in <module>\n')
    assert "sandbox_runner" not in stderr, "the traceback must start in the program, not the runner"
    assert report is not None and report.exit_code == 1


#: Loaded by the runner for itself, by neither ``python3 main.py`` nor the test wrapper.
RUNNERS_OWN = {"ctypes", "_ctypes", "_json", "resource", "select", "struct", "_struct", "binascii"}


@pytest.mark.parametrize("warm_python", [True, False], ids=["warmed-before-the-fork", "warmed-in-the-child"])
def test_a_python_program_sees_none_of_the_runners_modules_nor_its_path(tmp_path: Path, warm_python: bool) -> None:
    """The forked child hides what the runner loaded: ``sys.modules`` and ``sys.path`` as ``python3 main.py``'s
    (compared with the real thing in the image by the Docker test), and ``site`` has run (``exit`` exists)."""
    code = (
        "import sys\nmodules, path = sorted(sys.modules), list(sys.path)\n"
        "print(repr((modules, path, callable(exit), sys.orig_argv[1:])))\n"
    )
    spec = RunSpec(
        image="unused",
        mode="python",
        argv=("python3", "main.py", "a"),
        files=(RunFile("main.py", code.encode()),),
        limits=make_limits(),
    )
    completed = run_runner_on_host(encode_request(spec), tmp_path, warm_python=warm_python)
    frames = parse_frames(completed.stdout)
    modules, path, has_exit, orig_argv = ast.literal_eval(joined(frames, "stdout").decode())
    assert not [name for name in modules if name.startswith("sandbox_runner")]
    assert not RUNNERS_OWN & set(modules)
    assert path[0] == str(tmp_path)
    assert str(RUNNER_DIR) not in path
    assert has_exit and orig_argv == ["main.py", "a"]


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
    frames, report = run_on_host(python_spec(code), tmp_path)
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
    frames, report = run_on_host(python_spec(code), tmp_path)
    stdout = joined(frames, "stdout")
    assert stdout.startswith(b"unflushed ")
    assert stdout.index(b"thread") < stdout.index(b"atexit"), stdout
    assert report is not None and report.exit_code == 6


def test_end_to_end_python_syntax_error(tmp_path: Path) -> None:
    frames, report = run_on_host(python_spec("def broken(:\n"), tmp_path)
    stderr = joined(frames, "stderr").decode()
    assert "SyntaxError" in stderr and "main.py" in stderr
    assert "sandbox_runner" not in stderr
    assert report is not None and report.exit_code == 1


def test_end_to_end_wall_timeout(tmp_path: Path) -> None:
    frames, report = run_on_host(exec_spec("echo started; sleep 5", wall_time_s=0.3), tmp_path)
    assert joined(frames, "stdout") == b"started\n"
    assert report is not None
    assert report.timed_out
    assert report.signal == signal.SIGKILL
    assert report.wall_ms < 3000


def test_end_to_end_output_limit(tmp_path: Path) -> None:
    frames, report = run_on_host(exec_spec("while :; do echo 0123456789; done", stdout_bytes=100), tmp_path)
    assert joined(frames, "stdout") == (b"0123456789\n" * 10)[:100]
    assert report is not None
    assert report.output_limit == "stdout" and report.stdout_truncated
    assert report.signal == signal.SIGKILL


def test_end_to_end_sigxcpu_is_reported_as_cpu_limit(tmp_path: Path) -> None:
    _, report = run_on_host(exec_spec("kill -XCPU $$"), tmp_path)
    assert report is not None
    assert report.signal == signal.SIGXCPU
    assert report.cpu_limit_hit


def test_end_to_end_signal(tmp_path: Path) -> None:
    _, report = run_on_host(exec_spec("kill -TERM $$"), tmp_path)
    assert report is not None
    assert report.signal == signal.SIGTERM and report.exit_code is None and not report.cpu_limit_hit


def test_end_to_end_program_not_found(tmp_path: Path) -> None:
    spec = RunSpec(image="u", mode="exec", argv=("/nonexistent/prog",), files=(), limits=make_limits())
    frames, report = run_on_host(spec, tmp_path)
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
    frames, report = run_on_host(spec, work)
    assert report is None
    assert frames[-1].kind == "error"
    assert outside.read_bytes() == b"precious"


def test_wall_timeout_kills_a_child_that_has_not_called_setsid_yet(tmp_path: Path) -> None:
    # The child is held before child_setup (which calls setsid) until the runner's timeout
    # path has called os.killpg: the order a very short wall limit or a slow fork produces.
    work = tmp_path / "work"
    work.mkdir()
    spec = exec_spec("sleep 0.3", wall_time_s=0.05)
    _, report = run_on_host(spec, work, f"{HOLD_CHILD_UNTIL_KILLPG}={tmp_path / 'killpg-called'}")
    assert (tmp_path / "killpg-called").exists(), "the runner never tried to kill the program"
    assert report is not None and report.timed_out
    assert report.signal == signal.SIGKILL, f"the program ran to completion: exit_code={report.exit_code}"
