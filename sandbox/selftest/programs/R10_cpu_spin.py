# row: R10
# attack: CPU spin on four processes to take more than the container's CPU quota. The container-wide
#   CPU usage (cpuacct) measured over 2 s must stay within the quota (1 CPU, +15% slack), and the host
#   deadline must kill the spin.
# expect-status: timeout
# expect-stdout-contains: quota-cpus=1.00
# expect-stdout-contains: cpu-within-quota: yes
# limits: wall_time_s=5 cpu_time_s=30
# canary: overlap
# xfail-under-runsc: gVisor differs, not a gap: the container-wide CPU use cannot be measured inside the sandbox:
#   /sys/fs/cgroup is empty, and the Sentry's per-task CPU times are its own view (four spinners report 2.6 CPUs
#   on a 2-core host); a work-done measure (iterations against one spinner's rate) misjudged the quota on a
#   loaded host. The host deadline still kills the spin (timeout)
import os
import time


def usage_ns():
    with open("/sys/fs/cgroup/cpuacct/cpuacct.usage") as f:
        return int(f.read())


with open("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") as f:
    quota = int(f.read())
with open("/sys/fs/cgroup/cpu/cpu.cfs_period_us") as f:
    period = int(f.read())
cpus = quota / period if quota > 0 else float("inf")
print(f"quota-cpus={cpus:.2f}", flush=True)
for _ in range(3):
    if os.fork() == 0:
        while True:
            pass
time.sleep(0.5)
t0, u0 = time.monotonic(), usage_ns()
time.sleep(2)
share = (usage_ns() - u0) / 1e9 / (time.monotonic() - t0)
print(f"cpu-share={share:.2f}")
print(f"cpu-within-quota: {'yes' if share <= cpus * 1.15 else 'no'}", flush=True)
while True:
    pass
