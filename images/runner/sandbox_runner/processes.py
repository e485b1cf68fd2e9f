"""The container's processes as PID 1 sees them: reaping, clearing, and what they cost.

The runner is the container's init, so every orphan becomes its child and must
be reaped, and at the end of a run it clears whatever the program left behind
(a daemon that called setsid escapes the program's process group). The rest
reads the kernel's accounting: the cgroup's OOM-kill counter, and a live
process's CPU time and peak RSS for session cells (whose interpreter is not
waited for between cells, so rusage does not cover it).

``kill_everything_else`` signals every process it can see: on the host that is
everything the user owns. Tests run the runner only through
``tests/unit/helpers.RUNNER_WRAPPER``, which replaces it; callers therefore
reach it as ``processes.kill_everything_else()``, never by a name imported
into their own module.
"""

from __future__ import annotations

import os
import resource
import signal
import time


def reap_children(pid: int) -> tuple[int, resource.struct_rusage] | None:
    """Reap every exited child (as PID 1, orphans are ours too); (status, rusage) if ``pid`` was one."""
    found = None
    while True:
        try:
            waited, status, rusage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return found
        if waited == 0:
            return found
        if waited == pid:
            found = (status, rusage)


def kill_everything_else() -> None:
    """SIGKILL every other process in the container, and reap them."""
    me = os.getpid()
    for _ in range(50):
        found = False
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) not in (1, me):
                try:
                    os.kill(int(entry), signal.SIGKILL)
                    found = True
                except OSError:
                    pass
        reap_children(-1)
        if not found:
            return
        time.sleep(0.002)


def read_oom_kills() -> int:
    """The container's OOM-kill count so far (cgroup v2 or v1); 0 if neither file can be read."""
    for path, key in (
        ("/sys/fs/cgroup/memory.events", "oom_kill"),
        ("/sys/fs/cgroup/memory/memory.oom_control", "oom_kill"),
    ):
        try:
            with open(path) as f:
                for line in f:
                    name, _, value = line.partition(" ")
                    if name == key:
                        return int(value)
        except (OSError, ValueError):
            continue
    return 0


def process_cpu_s(pid: int) -> float:
    """User plus system CPU seconds of a live (or not yet reaped) process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_peak_rss(pid: int) -> int:
    """A process's peak resident set size in bytes (VmHWM); 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0
