"""One request, one program, one result: the container's usual life.

The program is spawned, its output forwarded under the caps until it exits, is
killed at the wall deadline or overflows a cap; then every other process in the
container is cleared and the result is measured from the kernel's accounting.
"""

from __future__ import annotations

import binascii
import contextlib
import os
import resource
import select
import signal
import time

from . import processes, program, wire

CHUNK = 64 << 10


def supervise(request: dict) -> dict:
    """Run the request's program once; the result frame's fields."""
    limits = request.get("limits") or {}
    wall_s = int(limits.get("wall_ms", 10_000)) / 1000
    caps = {"O": int(limits.get("stdout_bytes", 1 << 20)), "E": int(limits.get("stderr_bytes", 1 << 20))}
    stdin_data = memoryview(binascii.a2b_base64(request.get("stdin") or ""))
    oom_before = processes.read_oom_kills()

    start = time.monotonic()
    pid, stdin_w, stdout_r, stderr_r = program.spawn(request)
    deadline = start + wall_s
    streams = {stdout_r: "O", stderr_r: "E"}
    sent = {"O": 0, "E": 0}
    truncated = {"O": False, "E": False}
    output_limit = None
    timed_out = False
    status = None
    rusage = None

    poller = select.poll()
    for fd in streams:
        poller.register(fd, select.POLLIN)
    if stdin_data:
        os.set_blocking(stdin_w, False)
        poller.register(stdin_w, select.POLLOUT)
    else:
        os.close(stdin_w)
        stdin_w = -1
    try:
        pidfd = os.pidfd_open(pid)
        poller.register(pidfd, select.POLLIN)
    except (AttributeError, OSError):
        pidfd = -1

    def finish_stdin() -> None:
        nonlocal stdin_w
        if stdin_w >= 0:
            poller.unregister(stdin_w)
            os.close(stdin_w)
            stdin_w = -1

    def take(fd: int) -> bool:
        """Forward one chunk; False at EOF."""
        nonlocal output_limit
        try:
            data = os.read(fd, CHUNK)
        except BlockingIOError:
            return True
        if not data:
            poller.unregister(fd)
            del streams[fd]
            os.close(fd)
            return False
        kind = streams[fd]
        room = caps[kind] - sent[kind]
        if len(data) > room:
            data = data[: max(room, 0)]
            truncated[kind] = True
            output_limit = output_limit or ("stdout" if kind == "O" else "stderr")
        if data:
            wire.write_frame(kind.encode(), data)
            sent[kind] += len(data)
        return True

    while status is None:
        if output_limit or timed_out:
            # The group, and the child itself in case it has not called setsid() yet.
            for kill in (os.killpg, os.kill):
                with contextlib.suppress(ProcessLookupError):
                    kill(pid, signal.SIGKILL)
            _, status, rusage = os.wait4(pid, 0)
            break
        timeout_ms = max(0, int((deadline - time.monotonic()) * 1000))
        if timeout_ms == 0:
            timed_out = True
            continue
        events = poller.poll(min(timeout_ms, 1000 if pidfd >= 0 else 10))
        for fd, _ev in events:
            if fd == stdin_w:
                try:
                    n = os.write(stdin_w, stdin_data[:CHUNK])
                    stdin_data = stdin_data[n:]
                    if not stdin_data:
                        finish_stdin()
                except BlockingIOError:
                    pass
                except OSError:  # the program closed its stdin: EPIPE
                    finish_stdin()
            elif fd in streams:
                take(fd)
        reaped = processes.reap_children(pid)
        if reaped is not None:
            status, rusage = reaped

    # The program is gone: keep what it already wrote, then clear the container.
    for fd in list(streams):
        os.set_blocking(fd, False)
        while fd in streams and not output_limit and take(fd):
            if not select.select([fd], [], [], 0)[0]:
                break
    finish_stdin()
    processes.kill_everything_else()
    wall_ms = int((time.monotonic() - start) * 1000)

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = children.ru_utime + children.ru_stime
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    cpu_limit = int(limits.get("cpu_s", 0))
    return {
        "exit_code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        "signal": sig,
        "wall_ms": wall_ms,
        "cpu_ms": int(cpu_s * 1000),
        "peak_memory_bytes": max(children.ru_maxrss, rusage.ru_maxrss if rusage else 0) * 1024,
        "stdout_truncated": truncated["O"],
        "stderr_truncated": truncated["E"],
        "timed_out": timed_out,
        "output_limit": output_limit,
        "cpu_limit_hit": sig == signal.SIGXCPU or (cpu_limit > 0 and sig == signal.SIGKILL and cpu_s >= cpu_limit),
        "oom_killed": processes.read_oom_kills() > oom_before,
    }
