"""The container's processes as PID 1 sees them: reaping, clearing, and what they cost.

The runner is the container's init, so every orphan becomes its child and must
be reaped, and at the end of a run it clears whatever the program left behind
(a daemon that called setsid escapes the program's process group). The rest
reads the kernel's accounting: the cgroup's OOM-kill counter, and a live
process's CPU time and peak RSS for session cells (whose interpreter is not
waited for between cells, so rusage does not cover it).

Between a session's calls nothing of the program may run: ``stop_everything_else``
stops every other process with SIGSTOP (which no program can catch or ignore)
and checks that they all stay stopped, ``continue_everything_else`` lets them
go on when the next cell starts. ``container_cpu_ns`` is the container's CPU
so far, from its cgroup: what a session's lifetime CPU budget is held to.

``kill_everything_else``, ``stop_everything_else`` and
``continue_everything_else`` signal every process they can see: on the host
that is everything the user owns. Tests run the runner only through
``tests/unit/helpers.RUNNER_WRAPPER``, which replaces them; callers therefore
reach them as ``processes.kill_everything_else()``, never by a name imported
into their own module.
"""

from __future__ import annotations

import os
import resource
import time

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at start-up
if TYPE_CHECKING:
    import signal
else:  # the C module: ``signal`` itself imports ``enum`` (milliseconds of every container's start)
    import _signal as signal


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


def process_cpu_s_precise(pid: int) -> float:
    """A live process's CPU seconds to the nanosecond where the kernel has them, never less than ``process_cpu_s``.

    /proc/<pid>/stat counts whole clock ticks (10 ms); each live thread's ``schedstat`` has its run time
    in ns (threads that have exited are missing there, hence the larger of the two).
    """
    ticks = process_cpu_s(pid)
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split(None, 1)[0])
    except (OSError, ValueError, IndexError):
        pass
    return max(ticks, total / 1e9)


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


#: Stop states in /proc/<pid>/stat: stopped, traced, zombie, dead. Anything else may still run.
STOPPED_STATES = frozenset("tTZXx")
#: How often ``stop_everything_else`` signals and checks before it gives up.
STOP_TRIES = 12


def stop_everything_else() -> bool:
    """SIGSTOP every other process in the container; True once they are seen to stay stopped.

    ``kill(-1)`` from the namespace's init reaches every other process of the
    container (under the kernel's task-list lock: no fork slips through). A
    process that was not stopped yet can still SIGCONT one that was, so this
    checks: two scans of every thread, each stopped (or a zombie) in both, with
    the same run time (``schedstat``, in ns) and the same set of threads. Work
    that keeps itself going (processes continuing each other) has some thread
    running or runnable at every instant between the scans, which either scan
    sees. False after ``STOP_TRIES`` rounds: the caller kills them all.
    """
    delay = 0.0002
    for _ in range(STOP_TRIES):
        try:
            os.kill(-1, signal.SIGSTOP)
        except ProcessLookupError:
            return True  # nothing else is left
        time.sleep(delay)
        first = _thread_states()
        if first is not None:
            time.sleep(delay)
            if _thread_states() == first:
                return True
        delay = min(delay * 2, 0.01)
    return False


def continue_everything_else() -> None:
    """SIGCONT every other process in the container (what ``stop_everything_else`` stopped)."""
    try:
        os.kill(-1, signal.SIGCONT)
    except ProcessLookupError:
        pass


def _thread_states() -> dict[str, str] | None:
    """Every other thread's run time, or None if one of them is not stopped (or cannot be read)."""
    me = str(os.getpid())
    found: dict[str, str] = {}
    try:
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or pid in ("1", me):
                continue
            for tid in os.listdir(f"/proc/{pid}/task"):
                base = f"/proc/{pid}/task/{tid}"
                with open(f"{base}/stat") as f:
                    state = f.read().rsplit(")", 1)[1].split(None, 1)[0]
                if state not in STOPPED_STATES:
                    return None
                with open(f"{base}/schedstat") as f:
                    found[tid] = f.read().split(None, 1)[0]
    except OSError:
        return None  # a process went away (or hid itself) mid-scan: scan again
    return found


def container_cpu_ns() -> int | None:
    """The container's CPU time so far in ns, from its cgroup (v1 or v2); None if neither is readable."""
    try:
        with open("/sys/fs/cgroup/cpuacct/cpuacct.usage") as f:
            return int(f.read())
    except (OSError, ValueError):
        pass
    try:
        with open("/sys/fs/cgroup/cpu.stat") as f:
            for line in f:
                name, _, value = line.partition(" ")
                if name == "usage_usec":
                    return int(value) * 1000
    except (OSError, ValueError):
        pass
    return None
