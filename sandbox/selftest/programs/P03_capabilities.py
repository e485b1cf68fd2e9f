# row: P03
# attack: Inspect what the kernel grants: capability sets, no_new_privs and seccomp mode of this program,
#   of its runner (the parent) and of PID 1. Every capability set must be empty, NoNewPrivs 1, Seccomp 2.
#   A field /proc/<pid>/status lacks (gVisor's has no CapAmb or NoNewPrivs) is asked of the kernel with
#   prctl for this program, so its line stays exact; for the runner it is ABSENT, which grants nothing
#   (ambient capabilities are a subset of the permitted set, which must be 0; the program's own
#   no_new_privs, which its children inherit, is the one checked). Under gVisor (its kernel log starts with
#   "Starting gVisor...") the runner has Seccomp 0: runsc applies Docker's profile to no process inside the
#   sandbox (no --oci-seccomp), the Sentry itself is filtered on the host; reported as sentry-only. The
#   program's own filter (the runner's, Seccomp 2) holds under both.
# expect-status: ok
# expect-stdout-contains: self caps: CapInh=0 CapPrm=0 CapEff=0 CapBnd=0 CapAmb=0
# expect-stdout-contains: self flags: NoNewPrivs=1 Seccomp=2
# expect-stdout-regex: ^runner caps: CapInh=0 CapPrm=0 CapEff=0 CapBnd=0 CapAmb=(0|ABSENT)$
# expect-stdout-regex: ^runner flags: NoNewPrivs=(1|ABSENT) Seccomp=(2|sentry-only)$
# expect-stdout-regex: ^pid1 caps: CapInh=0 CapPrm=0 CapEff=0 CapBnd=0 CapAmb=(0|ABSENT)$
# expect-stdout-regex: ^pid1 flags: NoNewPrivs=(1|ABSENT) Seccomp=(2|sentry-only)$
# limits: wall_time_s=5
import ctypes
import os

KEYS = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp")
libc = ctypes.CDLL(None, use_errno=True)


def ambient_of_self():
    mask = 0
    for cap in range(64):
        is_set = libc.prctl(47, 1, cap, 0, 0)  # PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET
        if is_set < 0:
            break  # EINVAL past the last capability
        mask |= is_set << cap
    return mask


buf = ctypes.create_string_buffer(256)
read = libc.syscall(ctypes.c_long(103), ctypes.c_long(3), buf, ctypes.c_long(256))  # syslog READ_ALL
sentry = read > 0 and b"] Starting gVisor..." in buf.raw.split(b"\n", 1)[0]
SELF = {"CapAmb": ambient_of_self, "NoNewPrivs": lambda: libc.prctl(39, 0, 0, 0, 0)}  # PR_GET_NO_NEW_PRIVS
for label, pid in (("self", "self"), ("runner", os.getppid()), ("pid1", 1)):
    fields = dict(line.split(":\t", 1) for line in open(f"/proc/{pid}/status").read().splitlines() if ":\t" in line)
    values = []
    for key in KEYS:
        if key == "Seccomp" and label != "self" and sentry and fields.get(key, "").strip() == "0":
            values.append(f"{key}=sentry-only")
        elif key in fields:
            values.append(f"{key}={int(fields[key].strip(), 16)}")
        elif label == "self" and key in SELF:
            values.append(f"{key}={SELF[key]()}")
        else:
            values.append(f"{key}=ABSENT")
    print(f"{label} caps: " + " ".join(values[:5]))
    print(f"{label} flags: " + " ".join(values[5:]))
