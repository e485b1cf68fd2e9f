"""Helpers shared by the unit tests: the in-container runner loaded by path, run safely, limits."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from sandbox.config import PROJECT_ROOT
from sandbox.models import EffectiveLimits

RUNNER_PATH = PROJECT_ROOT / "images" / "runner" / "sandbox_runner.py"

#: Runs the runner on the host, made harmless: unpatched, ``kill_everything_else`` would
#: SIGKILL every process the test user can see. It is replaced by a no-op and, as a
#: second guard, os.kill/os.killpg may only signal processes the runner itself forked.
#: Never run the runner on the host any other way.
RUNNER_WRAPPER = """
import importlib.util, os, sys, time
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
spec = importlib.util.spec_from_file_location("sandbox_runner_on_host", sys.argv[1])
runner = importlib.util.module_from_spec(spec)
spec.loader.exec_module(runner)
def _no_kill_everything_else():
    pass
runner.kill_everything_else = _no_kill_everything_else
if runner.kill_everything_else is not _no_kill_everything_else or runner.os.kill is not _guarded_kill:
    raise SystemExit("refusing to run: the runner is not made harmless")
if len(sys.argv) > 2:
    # Hold the forked child before child_setup (which calls setsid) until the runner
    # has called os.killpg once: a deterministic "slow child" for race tests.
    marker, setup, killpg = sys.argv[2], runner.child_setup, os.killpg
    def _killpg_then_mark(pgid, sig):
        try:
            killpg(pgid, sig)
        finally:
            open(marker, "w").close()
    os.killpg = _killpg_then_mark
    def _child_setup_after_killpg(*args):
        deadline = time.monotonic() + 5
        while not os.path.exists(marker) and time.monotonic() < deadline:
            time.sleep(0.005)
        return setup(*args)
    runner.child_setup = _child_setup_after_killpg
sys.exit(runner.main())
"""


def load_runner(name: str = "sandbox_runner_under_test") -> ModuleType:
    """Import ``images/runner/sandbox_runner.py`` by path (it is not a package module)."""
    spec = importlib.util.spec_from_file_location(name, RUNNER_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_runner_on_host(
    request: bytes, workdir: Path, *, hold_child_until_killpg: Path | None = None, timeout: float = 15
) -> subprocess.CompletedProcess[bytes]:
    """Run the real runner as a subprocess on ``request`` (safely: see ``RUNNER_WRAPPER``).

    ``hold_child_until_killpg``: a marker path; the program's child process waits
    before ``setsid`` until the runner has called ``os.killpg`` (see the wrapper).
    """
    argv: Sequence[str] = [sys.executable, "-I", "-c", RUNNER_WRAPPER, str(RUNNER_PATH)]
    if hold_child_until_killpg is not None:
        argv = [*argv, str(hold_child_until_killpg)]
    env = {"SANDBOX_WORKDIR": str(workdir), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    return subprocess.run(argv, input=request, capture_output=True, env=env, timeout=timeout, check=False)


def make_limits(**overrides: float) -> EffectiveLimits:
    values: dict[str, float] = {
        "wall_time_s": 5.0,
        "cpu_time_s": 5,
        "memory_mb": 256,
        "processes": 64,
        "workdir_mb": 64,
        "stdout_bytes": 1 << 20,
        "stderr_bytes": 1 << 20,
    }
    values.update(overrides)
    return EffectiveLimits(**values)
