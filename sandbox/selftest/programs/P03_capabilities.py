# row: P03
# attack: Inspect what the kernel grants: capability sets, no_new_privs and seccomp mode of this program,
#   of its runner (the parent) and of PID 1. Every capability set must be empty, NoNewPrivs 1, Seccomp 2.
# expect-status: ok
# expect-stdout-contains: self: CapInh=0 CapPrm=0 CapEff=0 CapBnd=0 CapAmb=0 NoNewPrivs=1 Seccomp=2
# expect-stdout-contains: runner: CapInh=0 CapPrm=0 CapEff=0 CapBnd=0 CapAmb=0 NoNewPrivs=1 Seccomp=2
# expect-stdout-contains: pid1: CapInh=0 CapPrm=0 CapEff=0 CapBnd=0 CapAmb=0 NoNewPrivs=1 Seccomp=2
# limits: wall_time_s=5
# xfail-under-runsc: gVisor differs, not a gap: /proc/self/status has no CapAmb line, which the program reads
import os

KEYS = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp")
for label, pid in (("self", "self"), ("runner", os.getppid()), ("pid1", 1)):
    fields = dict(line.split(":\t", 1) for line in open(f"/proc/{pid}/status").read().splitlines() if ":\t" in line)
    print(f"{label}: " + " ".join(f"{k}={int(fields[k].strip(), 16)}" for k in KEYS))
