# row: R02
# attack: Thread bomb: start sleeping threads until the interpreter cannot start another one, then
#   hold them for a while. The pids cgroup counts threads, so the bomb must stop at the pids limit
#   (under gVisor the limit is RLIMIT_NPROC in the sandbox, which counts threads as well).
# expect-status: ok
# expect-stdout-contains: thread-start: DENIED RuntimeError
# expect-stdout-contains: tasks-within-pids-limit: yes
# limits: wall_time_s=8 processes=48
# canary: overlap
import os
import resource
import threading
import time


def task_limit():
    """The pids cgroup's limit; under gVisor, which shows no cgroup files, the sandbox's RLIMIT_NPROC."""
    try:
        with open("/sys/fs/cgroup/pids/pids.max") as f:
            return int(f.read())
    except FileNotFoundError:
        return resource.getrlimit(resource.RLIMIT_NPROC)[0]


started = 0
try:
    while True:
        threading.Thread(target=time.sleep, args=(99,), daemon=True).start()
        started += 1
except RuntimeError as exc:
    print(f"thread-start: DENIED RuntimeError: {exc} after {started} threads", flush=True)
tasks = sum(len(os.listdir(f"/proc/{p}/task")) for p in os.listdir("/proc") if p.isdigit())
limit = task_limit()
print(f"tasks={tasks} limit={limit}")
print(f"tasks-within-pids-limit: {'yes' if started < limit and tasks <= limit else 'no'}", flush=True)
time.sleep(4)
os._exit(0)
