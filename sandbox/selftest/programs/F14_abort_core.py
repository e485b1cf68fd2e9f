# row: F14
# attack: Crash for a core dump: a child calls os.abort(); check it dumped no core (RLIMIT_CORE 0, no core
#   file anywhere writable, core_pattern not a pipe that the host would run), then abort the program itself.
#   gVisor has no /proc/sys/kernel/core_pattern (ABSENT: no pattern, no pipe; the Sentry dumps no cores).
# expect-status: killed
# expect-signal: 6
# expect-stdout-contains: child killed by SIGABRT: yes
# expect-stdout-contains: child dumped core: no
# expect-stdout-contains: RLIMIT_CORE=(0, 0)
# expect-stdout-contains: core_pattern is a pipe: no
# expect-stdout-contains: core-files: []
# limits: wall_time_s=5
import os
import resource
import signal

print(f"RLIMIT_CORE={resource.getrlimit(resource.RLIMIT_CORE)}")
pid = os.fork()
if pid == 0:
    os.chdir("/tmp")
    try:  # raising the hard limit needs CAP_SYS_RESOURCE
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    except (ValueError, OSError):
        pass
    os.abort()
_, status = os.waitpid(pid, 0)
print(f"child killed by SIGABRT: {'yes' if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGABRT else 'no'}")
print(f"child dumped core: {'yes' if os.WCOREDUMP(status) else 'no'}")
try:
    pattern = open("/proc/sys/kernel/core_pattern").read().strip()
except FileNotFoundError:
    pattern = ""
    print("core_pattern: ABSENT")
else:
    print(f"core_pattern={pattern!r}")
print(f"core_pattern is a pipe: {'yes' if pattern.startswith('|') else 'no'}")
cores = [
    os.path.join(r, n)
    for d in ("/tmp", "/workspace", "/dev/shm")
    for r, _, fs in os.walk(d)
    for n in fs
    if n.startswith("core")
]
print(f"core-files: {cores}", flush=True)
os.abort()
