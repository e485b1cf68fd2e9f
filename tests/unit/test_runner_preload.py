"""The runner's preload (images/runner/sandbox_runner/preload.py), exercised on the host.

The mechanism knows no language: here the preload is a small Python bootstrap
(``STUB``) started as ``python3 stub.py``, which is also what a request's
``argv[0]`` names, so it serves ``python3 main.py ...`` in exec mode. It marks
the program's process (``builtins.PRELOADED``) so that a test can tell which
way the program was started. The runner runs through ``helpers.RUNNER_WRAPPER``.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sandbox.engine import RunFile, RunSpec, TestInput
from sandbox.engine.protocol import RunnerReport, encode_request
from tests.unit.helpers import RUNNER_DIR, joined, make_limits, parse_frames, report_of, runner_argv, runner_env

#: argv: stub.py, the CPU seconds to burn first, the marker file to write when ready, what to do at
#: end of file on the go pipe ("exit" or "linger": then it waits to be killed).
STUB = r"""
import builtins, json, os, runpy, struct, sys, time
burn, marker, at_eof = float(sys.argv[1]), sys.argv[2], sys.argv[3]
end = time.process_time() + burn
while time.process_time() < end:
    pass
def read_exact(n):
    data = b""
    while len(data) < n:
        chunk = os.read(3, n - len(data))
        if not chunk:
            if at_eof == "linger":
                time.sleep(60)
            os._exit(0)
        data += chunk
    return data
with open(marker + ".tmp", "w") as f:
    f.write(str(os.getpid()))
os.rename(marker + ".tmp", marker)
(length,) = struct.unpack(">I", read_exact(4))
message = json.loads(read_exact(length))
os.close(3)
os.environ.clear()
os.environ.update(message["env"])
sys.argv = message["argv"][1:]
builtins.PRELOADED = True
runpy.run_path(sys.argv[0], run_name="__main__")
"""

PROBE = """
import builtins, os, resource, sys
def fd_open(fd):
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False
print(getattr(builtins, "PRELOADED", False))
print(sys.argv)
print(os.environ.get("GREETING"), os.environ.get("HOME") == os.getcwd(), "SANDBOX_PRELOAD" in os.environ)
print(sys.stdin.read())
print(os.getsid(0) == os.getpid(), fd_open(3), fd_open(4))
print(resource.getrlimit(resource.RLIMIT_FSIZE), resource.getrlimit(resource.RLIMIT_NOFILE))
print(open("/proc/self/oom_score_adj").read().strip())
print([line.split()[1] for line in open("/proc/self/status") if line.startswith("Seccomp:")])
sys.exit(5)
"""


def spec(code: str, *args: str, stdin: bytes = b"", **limits: float) -> RunSpec:
    return RunSpec(
        image="unused",
        mode="exec",
        argv=(sys.executable, "main.py", *args),
        files=(RunFile("main.py", code.encode()),),
        limits=make_limits(**limits),
        stdin=stdin,
        env={"GREETING": "hi"},
        nofile=64,
    )


@dataclasses.dataclass
class Outcome:
    frames: list
    report: RunnerReport | None
    preload_pid: int | None
    stderr: bytes

    @property
    def stdout(self) -> str:
        return joined(self.frames, "stdout").decode()


def run_with_preload(
    tmp_path: Path, run: RunSpec, *, burn_s: float = 0.0, at_eof: str = "exit", wait: bool = True
) -> Outcome:
    """The runner on the host with ``STUB`` as its preload: wait until it is ready, then send ``run``."""
    workdir = tmp_path / "work"
    workdir.mkdir(exist_ok=True)
    stub, marker = tmp_path / "stub.py", tmp_path / "ready"
    stub.write_text(STUB)
    env = {
        **runner_env(workdir),
        "SANDBOX_PRELOAD": json.dumps([sys.executable, str(stub), str(burn_s), str(marker), at_eof]),
    }
    process = subprocess.Popen(
        runner_argv(RUNNER_DIR), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    pid = None
    try:
        if wait:
            deadline = time.monotonic() + 20
            while not marker.exists():
                assert time.monotonic() < deadline, "the preload did not get ready"
                assert process.poll() is None, process.stderr.read() if process.stderr else b""
                time.sleep(0.01)
            pid = int(marker.read_text())
        stdout, stderr = process.communicate(encode_request(run), timeout=30)
    finally:
        if process.poll() is None:
            process.kill()  # the runner itself: our own child
            process.wait()
    frames = parse_frames(stdout)
    return Outcome(frames, report_of(frames), pid, stderr)


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_the_preload_becomes_the_program_with_the_requests_argv_env_stdin_and_limits(tmp_path: Path) -> None:
    done = run_with_preload(tmp_path, spec(PROBE, "a", "b c", stdin=b"from stdin", workdir_mb=8))
    assert done.report is not None, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "True", done.stdout  # run by the preload
    assert lines[1] == str(["main.py", "a", "b c"])
    assert lines[2] == "hi True False"  # the request's environment, the base one, not the runner's
    assert lines[3] == "from stdin"
    assert lines[4] == "True False False"  # its own session; the go pipe closed, nothing of the runner's
    assert lines[5] == f"{(8 << 20, 8 << 20)} {(64, 64)}"  # the request's rlimits, set with prlimit
    assert lines[6] == "1000"
    if os.uname().machine in ("x86_64", "aarch64"):
        assert lines[7] == "['2']"  # the program's seccomp filter, from its first instruction
    assert done.report.exit_code == 5


def test_the_preloads_start_up_cpu_is_not_the_programs(tmp_path: Path) -> None:
    done = run_with_preload(tmp_path, spec("print('hello')"), burn_s=0.6)
    assert done.report is not None, done.stderr
    assert done.stdout == "hello\n" and done.report.exit_code == 0
    assert done.report.cpu_ms < 400, done.report
    assert done.report.wall_ms < 400, done.report


def test_a_cpu_limit_counts_the_programs_own_cpu(tmp_path: Path) -> None:
    """A preload that used 0.6 s before the request: the program still gets its whole second."""
    done = run_with_preload(tmp_path, spec("while True: pass", cpu_time_s=1), burn_s=0.6)
    assert done.report is not None, done.stderr
    assert done.report.cpu_limit_hit and done.report.signal == signal.SIGXCPU, done.report
    assert 900 <= done.report.cpu_ms < 1500, done.report


def test_tests_mode_the_first_case_is_preloaded_the_others_spawned(tmp_path: Path) -> None:
    code = "import builtins, sys\nprint(getattr(builtins, 'PRELOADED', False), sys.argv[1:], input())"
    cases = (TestInput(stdin=b"one\n", args=("x",)), TestInput(stdin=b"two\n", args=("y",)))
    done = run_with_preload(tmp_path, dataclasses.replace(spec(code), tests=cases))
    reports = [json.loads(f.payload) for f in done.frames if f.kind == "case"]
    outputs = [base64.b64decode(r["stdout"]).decode() for r in reports]
    assert outputs == ["True ['x'] one\n", "False ['y'] two\n"], done.stderr


def test_a_request_the_preload_does_not_serve_kills_it_and_spawns_the_program(tmp_path: Path) -> None:
    other = dataclasses.replace(spec("import builtins\nprint(getattr(builtins, 'PRELOADED', False))"))
    other = dataclasses.replace(other, argv=(sys.executable, "-B", "main.py"))  # an option, not a script
    done = run_with_preload(tmp_path, other, at_eof="linger")
    assert done.stdout == "False\n", done.stderr
    assert done.preload_pid is not None and gone(done.preload_pid)


def test_a_python_mode_request_kills_the_preload(tmp_path: Path) -> None:
    run = RunSpec(
        image="unused",
        mode="python",
        argv=("python3", "main.py"),
        files=(RunFile("main.py", b"import builtins\nprint(getattr(builtins, 'PRELOADED', False))"),),
        limits=make_limits(),
    )
    done = run_with_preload(tmp_path, run, at_eof="linger")
    assert done.stdout == "False\n", done.stderr
    assert done.preload_pid is not None and gone(done.preload_pid)


def test_a_preload_that_died_before_the_request_leaves_a_normal_spawn(tmp_path: Path) -> None:
    code = "import builtins\nprint(getattr(builtins, 'PRELOADED', False))"
    workdir = tmp_path / "work"
    workdir.mkdir()
    # The preload's command fails at once (killed, say): the program is spawned as usual.
    env = {**runner_env(workdir), "SANDBOX_PRELOAD": json.dumps([sys.executable, "-c", "raise SystemExit(3)"])}
    process = subprocess.Popen(
        runner_argv(RUNNER_DIR), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    assert process.stdout is not None
    hello = process.stdout.read(5)  # the hello frame: the preload starts right after it
    assert hello[:1] == b"H"
    hello += process.stdout.read(int.from_bytes(hello[1:], "big"))
    time.sleep(1.0)  # it has exited by now (a zombie: nothing reaps it before the run)
    stdout, stderr = process.communicate(encode_request(spec(code)), timeout=30)
    frames = parse_frames(hello + stdout)
    report = report_of(frames)
    assert report is not None and report.exit_code == 0, stderr
    assert joined(frames, "stdout") == b"False\n"


def test_a_go_message_too_large_for_the_pipe_leaves_a_normal_spawn(tmp_path: Path) -> None:
    code = "import builtins, os\nprint(getattr(builtins, 'PRELOADED', False), len(os.environ['BIG']))"
    run = dataclasses.replace(spec(code), env={"BIG": "x" * (80 << 10)})
    done = run_with_preload(tmp_path, run, at_eof="linger")
    assert done.stdout == f"False {80 << 10}\n", done.stderr
    assert done.preload_pid is not None and gone(done.preload_pid)


def test_a_bad_preload_value_starts_nothing(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    for value in ("not json", "[]", '{"a": 1}', "[1, 2]"):
        env = {**runner_env(workdir), "SANDBOX_PRELOAD": value}
        process = subprocess.run(
            runner_argv(RUNNER_DIR), input=encode_request(spec("print(1)")), capture_output=True, env=env, timeout=30
        )
        report = report_of(parse_frames(process.stdout))
        assert report is not None and report.exit_code == 0, (value, process.stderr)
