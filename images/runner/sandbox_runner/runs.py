"""One process run to its end and measured: spawned, pumped, the container cleared.

The one-shot program, a compiler (``build``) and each test case (``cases``) all
run this way, so a limit, a cap or a kill means the same for each of them.
"""

from __future__ import annotations

import os
import resource
import time

from . import preload, processes, program, pump

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at start-up
if TYPE_CHECKING:
    import signal
else:  # the C module: ``signal`` itself imports ``enum`` (milliseconds of every container's start)
    import _signal as signal
if TYPE_CHECKING:
    from . import wire


def run_program(
    request: wire.Request,
    stdin: bytes,
    *,
    sink: pump.Sink | None = None,
    merge_stderr: bool = False,
    waiting: preload.Preload | None = None,
) -> dict[str, object]:
    """Spawn ``request``'s program, pump it to its end, clear the container; the result frame's fields.

    CPU time and the OOM count are this run's own (what earlier runs in the container used is
    taken off); the peak memory is the program's own, or the container's children's if it is the first.
    ``waiting``: a preload that becomes the program instead of a fresh spawn (see ``preload``): the
    wall time starts when it is sent the program, and its CPU until then is not the program's.
    """
    limits = request.get("limits") or {}
    oom_before = processes.read_oom_kills()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)

    xcpu_at = None
    start = time.monotonic()
    if waiting is not None and waiting.go(request, program.program_env(request)):
        start = time.monotonic()
        pid, stdin_w, stdout_r, stderr_r = waiting.pid, waiting.stdin_w, waiting.stdout_r, waiting.stderr_r
        if int(limits.get("cpu_s", 0)) > 0:
            xcpu_at = waiting.cpu_before_go + int(limits["cpu_s"])
        preload_cpu_s = waiting.cpu_before_go
    else:
        if waiting is not None:
            waiting.kill()
            start = time.monotonic()
        pid, stdin_w, stdout_r, stderr_r = program.spawn(request, merge_stderr=merge_stderr)
        preload_cpu_s = 0.0
    streams = {stdout_r: "O"} if merge_stderr else {stdout_r: "O", stderr_r: "E"}
    run = pump.Pump(pid, streams, limits, start, stdin=stdin, stdin_fd=stdin_w, sink=sink, xcpu_at=xcpu_at).run()
    # The program is gone and its output forwarded: clear the container.
    processes.kill_everything_else()
    wall_ms = int((time.monotonic() - start) * 1000)

    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime) - preload_cpu_s
    cpu_s = max(cpu_s, 0.0)
    status = run.status
    assert status is not None, "the pump waits for a one-shot program"
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    cpu_limit = int(limits.get("cpu_s", 0))
    own_peak = run.rusage.ru_maxrss if run.rusage else 0
    return {
        "exit_code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        "signal": sig,
        "wall_ms": wall_ms,
        "cpu_ms": int(cpu_s * 1000),
        "peak_memory_bytes": max(after.ru_maxrss if before.ru_maxrss == 0 else 0, own_peak) * 1024,
        **run.flags(),
        "cpu_limit_hit": sig == signal.SIGXCPU or (cpu_limit > 0 and sig == signal.SIGKILL and cpu_s >= cpu_limit),
        "oom_killed": processes.read_oom_kills() > oom_before,
    }
