"""Helpers shared by the unit tests: the in-container runner imported fresh, run safely, limits."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import select
import subprocess
import sys
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from sandbox.config import PROJECT_ROOT
from sandbox.engine import RunFile, RunSpec
from sandbox.engine.protocol import Frame, FrameParser, RunnerReport, encode_message, encode_request, runner_limits
from sandbox.models import EffectiveLimits

RUNNER_DIR = PROJECT_ROOT / "images" / "runner"
RUNNER_PACKAGE = RUNNER_DIR / "sandbox_runner"

#: Runs the runner on the host, made harmless: unpatched, ``kill_everything_else`` would
#: SIGKILL every process the test user can see. It is replaced by a no-op (and no module
#: of the package may still hold the original under any name), and, as a second guard,
#: os.kill/os.killpg may only signal processes the runner itself forked.
#: Never run the runner on the host any other way.
#: argv: the folder holding the ``sandbox_runner`` package, then options (see run_runner_on_host).
RUNNER_WRAPPER = """
import importlib, os, sys, time
_children, _fork, _kill, _killpg = set(), os.fork, os.kill, os.killpg
def _tracked_fork():
    pid = _fork()
    if pid:
        _children.add(pid)
    return pid
def _guarded_kill(pid, sig):
    if pid not in _children:
        raise PermissionError(f"host guard: refusing to signal pid {pid}")
    return _kill(pid, sig)
def _guarded_killpg(pgid, sig):
    if pgid not in _children:
        raise PermissionError(f"host guard: refusing to signal process group {pgid}")
    return _killpg(pgid, sig)
os.fork, os.kill, os.killpg = _tracked_fork, _guarded_kill, _guarded_killpg
sys.path.insert(0, sys.argv[1])
import sandbox_runner as runner
# Every module, the lazily imported session too, so that the check below sees them all.
_modules = [runner] + [
    importlib.import_module("sandbox_runner." + name[:-3])
    for name in sorted(os.listdir(runner.__path__[0]))
    if name.endswith(".py") and name != "__init__.py"
]
from sandbox_runner import processes, program
_real = [processes.kill_everything_else, processes.stop_everything_else, processes.continue_everything_else]
def _no_kill_everything_else():
    pass
def _signal_own_children(sig):
    # Only children not yet reaped (so their pids cannot have been reused); a session's
    # interpreter called setsid, so its group is its pid.
    for pid in list(_children):
        try:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
                _killpg(pid, sig)
        except OSError:
            pass
def _stop_own_children():
    _signal_own_children(19)  # SIGSTOP
    return True
def _continue_own_children():
    _signal_own_children(18)  # SIGCONT
processes.kill_everything_else = _no_kill_everything_else
processes.stop_everything_else = _stop_own_children
processes.continue_everything_else = _continue_own_children
processes.container_cpu_ns = lambda: None  # the host's cgroup is not the runner's
from sandbox_runner import workspace
if (
    # emptied after a compile and between test cases: never the host's
    os.path.realpath(workspace.TMP) in ("/", "/tmp", "/var/tmp")
    or os.path.realpath(workspace.WORKDIR) in ("/", "/tmp", "/var/tmp")
    or processes.kill_everything_else is not _no_kill_everything_else
    or any(value is real for real in _real for module in _modules for value in vars(module).values())
    or processes.os.kill is not _guarded_kill
):
    raise SystemExit("refusing to run: the runner is not made harmless")
options = dict(option.partition("=")[::2] for option in sys.argv[2:])
if "--hold-child-until-killpg" in options:
    # Hold the forked child before child_setup (which calls setsid) until the runner
    # has called os.killpg once: a deterministic "slow child" for race tests.
    marker, setup, killpg = options["--hold-child-until-killpg"], program.child_setup, os.killpg
    def _killpg_then_mark(pgid, sig):
        try:
            killpg(pgid, sig)
        finally:
            open(marker, "w").close()
    os.killpg = _killpg_then_mark
    def _child_setup_after_killpg(*args, **kwargs):
        deadline = time.monotonic() + 5
        while not os.path.exists(marker) and time.monotonic() < deadline:
            time.sleep(0.005)
        return setup(*args, **kwargs)
    program.child_setup = _child_setup_after_killpg
if "--pump-when-done" in options:
    # The pump starts only once the program is done (it exited, or the session's cell
    # reported back): everything the program wrote then reaches the host through the tail.
    import select
    from sandbox_runner import pump
    _run = pump.Pump.run
    def _run_when_done(self):
        if self._keep_stdin:  # a session's cell: its message goes to the interpreter first
            os.write(self._stdin_fd, bytes(self._stdin))
            self._stdin = memoryview(b"")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if self.reply_fd >= 0:
                if select.select([self.reply_fd], [], [], 0.005)[0]:
                    break
            elif os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is not None:
                break
            else:
                time.sleep(0.005)
        return _run(self)
    pump.Pump.run = _run_when_done
# What the container's end does for the real runner: nothing it started outlives it. Without it a
# child the runner had stopped (SIGSTOP between session calls, or caught before it took its own
# stdio) stays stopped forever, holding the runner's stdout open so that no EOF ever comes.
import atexit
atexit.register(_signal_own_children, 9)  # SIGKILL
runner.boot.leave = sys.exit  # not os._exit: the exit handler above must run
sys.exit(runner.main())
"""


def runner_modules() -> list[str]:
    """The names of the runner package's modules, ``__init__`` excluded."""
    return sorted(path.stem for path in RUNNER_PACKAGE.glob("*.py") if path.stem != "__init__")


def load_runner() -> ModuleType:
    """A fresh import of the runner package with every module loaded (``runner.pump``, ``runner.session``...).

    Earlier copies are dropped from ``sys.modules`` first, so a test's monkeypatching
    stays with its own copy.
    """
    for name in [name for name in sys.modules if name == "sandbox_runner" or name.startswith("sandbox_runner.")]:
        del sys.modules[name]
    sys.path.insert(0, str(RUNNER_DIR))
    try:
        package = importlib.import_module("sandbox_runner")
        for name in runner_modules():
            importlib.import_module(f"sandbox_runner.{name}")
    finally:
        sys.path.remove(str(RUNNER_DIR))
    return package


def runner_argv(runner_dir: Path = RUNNER_DIR, *options: str, wrapper: str = RUNNER_WRAPPER) -> list[str]:
    """The command that runs the package in ``runner_dir`` on the host, through ``RUNNER_WRAPPER``."""
    return [sys.executable, "-I", "-c", wrapper, str(runner_dir), *options]


def runner_env(workdir: Path, *, warm_python: bool = True) -> dict[str, str]:
    """The runner's environment on the host: its workdir, and a 'tmp' of its own next to it (the
    runner empties its /tmp after a compile and between test cases). ``warm_python``: as in the
    python image, the Python warm-up before the request (``SANDBOX_WARM_PYTHON``)."""
    tmp = workdir.parent / f"{workdir.name}-tmp"
    tmp.mkdir(exist_ok=True)
    env = {"SANDBOX_WORKDIR": str(workdir), "SANDBOX_TMP": str(tmp), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    return env | ({"SANDBOX_WARM_PYTHON": "1"} if warm_python else {})


#: Wrapper option: the program's child waits before ``setsid`` until the runner has called
#: ``os.killpg`` (append ``=<marker path>``).
HOLD_CHILD_UNTIL_KILLPG = "--hold-child-until-killpg"


#: Wrapper option: the output pump starts only once the program is done, so all of its
#: output goes through the tail drain.
PUMP_WHEN_DONE = "--pump-when-done"


def run_runner_on_host(
    request: bytes, workdir: Path, *options: str, timeout: float = 15, warm_python: bool = True
) -> subprocess.CompletedProcess[bytes]:
    """Run the real runner as a subprocess on ``request`` (safely: see ``RUNNER_WRAPPER``)."""
    argv: Sequence[str] = runner_argv(RUNNER_DIR, *options)
    env = runner_env(workdir, warm_python=warm_python)
    return subprocess.run(argv, input=request, capture_output=True, env=env, timeout=timeout, check=False)


def parse_frames(stdout: bytes) -> list[Frame]:
    parser = FrameParser()
    frames = list(parser.feed(stdout))
    assert parser.pending == 0, "the runner left a partial frame"
    return frames


def report_of(frames: list[Frame]) -> RunnerReport | None:
    """The result frame's report, if the last frame is one."""
    return RunnerReport.parse(frames[-1].payload) if frames and frames[-1].kind == "result" else None


def run_on_host(spec: RunSpec, workdir: Path, *options: str) -> tuple[list[Frame], RunnerReport | None]:
    """One run of ``spec`` by the real runner on the host: every frame, and the report."""
    frames = parse_frames(run_runner_on_host(encode_request(spec), workdir, *options).stdout)
    return frames, report_of(frames)


def joined(frames: list[Frame], kind: str) -> bytes:
    return b"".join(f.payload for f in frames if f.kind == kind)


def exec_spec(script: str, **limits: float) -> RunSpec:
    return RunSpec(
        image="unused",
        mode="exec",
        argv=("sh", "-c", script),
        files=(),
        limits=make_limits(**({"wall_time_s": 5.0} | limits)),
        nofile=64,
    )


def python_spec(code: str, **limits: float) -> RunSpec:
    return RunSpec(
        image="unused",
        mode="python",
        argv=("python3", "main.py"),
        files=(RunFile("main.py", code.encode()),),
        limits=make_limits(**limits),
    )


def cell_limits(**overrides: float) -> dict[str, int]:
    """A session cell's limits as the host sends them (``make_limits`` overrides)."""
    spec = RunSpec(image="unused", mode="python", argv=(), files=(), limits=make_limits(**overrides))
    return runner_limits(spec)


class HostSession:
    """A session of the real runner on the host (through ``RUNNER_WRAPPER``), driven message by message.

    Use as a context manager: the runner's process is closed and waited for on exit.
    """

    def __init__(
        self, workdir: Path, *options: str, files: tuple[RunFile, ...] = (), validated_imports: bool = False
    ) -> None:
        spec = RunSpec(
            image="unused",
            mode="session",
            argv=("python3",),
            files=files,
            limits=make_limits(),
            validated_imports=validated_imports,
        )
        self.process = subprocess.Popen(
            runner_argv(RUNNER_DIR, *options),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=runner_env(workdir),
        )
        self._parser = FrameParser()
        self._frames: deque[Frame] = deque()
        self.send_raw(encode_request(spec))
        hello = self.next_frame()
        assert hello is not None and hello.kind == "hello", hello
        opened = self.answer()
        assert [f.kind for f in opened] == ["result"], opened
        assert json.loads(opened[0].payload) == {"exit_code": 0, "session": "open"}

    def __enter__(self) -> HostSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self.process.stdin is not None
        with contextlib.suppress(OSError):
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        finally:
            if self.process.returncode is None:
                self.process.kill()  # only the runner itself: it is our own child
                self.process.wait()
            assert self.process.stdout is not None and self.process.stderr is not None
            self.process.stdout.close()
            self.process.stderr.close()

    def send_raw(self, data: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def send(self, body: dict[str, object]) -> None:
        self.send_raw(encode_message(body))

    def next_frame(self, timeout: float = 15) -> Frame | None:
        """The runner's next frame; None once it has closed its stdout."""
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + timeout
        while not self._frames:
            remaining = deadline - time.monotonic()
            assert remaining > 0, "the runner did not answer in time"
            if not select.select([fd], [], [], remaining)[0]:
                continue
            data = os.read(fd, 1 << 16)
            if not data:
                return None
            self._frames.extend(self._parser.feed(data))
        return self._frames.popleft()

    def answer(self) -> list[Frame]:
        """Frames up to and including the next result or error frame."""
        frames: list[Frame] = []
        while not frames or frames[-1].kind not in ("result", "error"):
            frame = self.next_frame()
            assert frame is not None, f"the runner ended after {frames}"
            frames.append(frame)
        return frames

    def exec(self, code: str, **limits: float) -> tuple[list[Frame], RunnerReport | None]:
        """Run one cell: its frames, and its report (None if the runner refused)."""
        self.send({"op": "exec", "code": code, "limits": cell_limits(**limits)})
        frames = self.answer()
        return frames, report_of(frames)


def make_limits(**overrides: float) -> EffectiveLimits:
    values: dict[str, float] = {
        "wall_time_s": 5.0,
        "cpu_time_s": 5,
        "memory_mb": 256,
        "processes": 64,
        "workdir_mb": 64,
        "stdout_bytes": 1 << 20,
        "stderr_bytes": 1 << 20,
        "compile_wall_time_s": 30.0,
        "compile_cpu_time_s": 20,
        "compile_memory_mb": 512,
    }
    values.update(overrides)
    return EffectiveLimits(**values)
