# row: R01
# attack: Fork bomb. Every process forks forever and swallows the errors, so the bomb never stops by
#   itself; the first process reports its first failed fork and how many tasks the container held then
#   (the limit: the pids cgroup under runc, RLIMIT_NPROC in the sandbox under gVisor).
# expect-status: timeout
# expect-stdout-contains: fork: DENIED errno=EAGAIN
# expect-stdout-contains: tasks-within-pids-limit: yes
# limits: wall_time_s=4 processes=32 cpu_time_s=30
# canary: overlap
import errno
import os
import resource


def task_limit():
    """The pids cgroup's limit; under gVisor, which shows no cgroup files, the sandbox's RLIMIT_NPROC."""
    try:
        with open("/sys/fs/cgroup/pids/pids.max") as f:
            return int(f.read())
    except FileNotFoundError:
        return resource.getrlimit(resource.RLIMIT_NPROC)[0]


first = os.getpid()
reported = False
while True:
    try:
        os.fork()
    except OSError as exc:
        if os.getpid() == first and not reported:
            reported = True
            tasks = sum(len(os.listdir(f"/proc/{p}/task")) for p in os.listdir("/proc") if p.isdigit())
            limit = task_limit()
            print(f"fork: DENIED errno={errno.errorcode[exc.errno]}", flush=True)
            print(f"tasks={tasks} limit={limit}", flush=True)
            print(f"tasks-within-pids-limit: {'yes' if tasks <= limit else 'no'}", flush=True)
