# row: R01
# attack: Fork bomb. Every process forks forever and swallows the errors, so the bomb never stops by
#   itself; the first process reports its first failed fork and how many tasks the container held then.
# expect-status: timeout
# expect-stdout-contains: fork: DENIED errno=EAGAIN
# expect-stdout-contains: tasks-within-pids-limit: yes
# limits: wall_time_s=4 processes=32 cpu_time_s=30
# canary: overlap
import errno
import os

first = os.getpid()
reported = False
while True:
    try:
        os.fork()
    except OSError as exc:
        if os.getpid() == first and not reported:
            reported = True
            tasks = sum(len(os.listdir(f"/proc/{p}/task")) for p in os.listdir("/proc") if p.isdigit())
            with open("/sys/fs/cgroup/pids/pids.max") as f:
                limit = int(f.read())
            print(f"fork: DENIED errno={errno.errorcode[exc.errno]}", flush=True)
            print(f"tasks={tasks} pids.max={limit}", flush=True)
            print(f"tasks-within-pids-limit: {'yes' if tasks <= limit else 'no'}", flush=True)
