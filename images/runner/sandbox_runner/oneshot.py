"""One request, one program, one result: the container's usual life.

The program is spawned and its output pumped (``pump.Pump``) until it exits,
overflows a cap or reaches the wall deadline; then every other process in the
container is cleared, and the result is measured from the kernel's accounting
of the runner's children.
"""

from __future__ import annotations

import binascii
import os
import resource
import signal
import time

from . import processes, program, pump

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at start-up
if TYPE_CHECKING:
    from . import wire


def supervise(request: wire.Request) -> dict[str, object]:
    """Run the request's program once; the fields of the result frame."""
    limits = request.get("limits") or {}
    stdin = binascii.a2b_base64(request.get("stdin") or "")
    oom_before = processes.read_oom_kills()

    start = time.monotonic()
    pid, stdin_w, stdout_r, stderr_r = program.spawn(request)
    run = pump.Pump(pid, {stdout_r: "O", stderr_r: "E"}, limits, start, stdin=stdin, stdin_fd=stdin_w).run()
    # The program is gone and its output forwarded: clear the container.
    processes.kill_everything_else()
    wall_ms = int((time.monotonic() - start) * 1000)

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = children.ru_utime + children.ru_stime
    status = run.status
    assert status is not None, "the pump waits for a one-shot program"
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    cpu_limit = int(limits.get("cpu_s", 0))
    return {
        "exit_code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        "signal": sig,
        "wall_ms": wall_ms,
        "cpu_ms": int(cpu_s * 1000),
        "peak_memory_bytes": max(children.ru_maxrss, run.rusage.ru_maxrss if run.rusage else 0) * 1024,
        **run.flags(),
        "cpu_limit_hit": sig == signal.SIGXCPU or (cpu_limit > 0 and sig == signal.SIGKILL and cpu_s >= cpu_limit),
        "oom_killed": processes.read_oom_kills() > oom_before,
    }
