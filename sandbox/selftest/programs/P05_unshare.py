# row: P05
# attack: New namespaces to regain capabilities inside them: unshare(CLONE_NEWUSER), and NEWNS, NEWNET,
#   NEWPID, NEWUTS, NEWIPC, NEWCGROUP; setns (PID 1's namespace files do not even open: the runner is
#   non-dumpable). All must fail. Each unshare runs in a child of its own. Under gVisor (its kernel log
#   starts with "Starting gVisor...") an unshare the Sentry grants makes a namespace of the Sentry's, not
#   the host's: it is SENTRY-ONLY when, inside it, reading /etc/shadow, creating /etc/pwn, remounting /
#   read-write, mounting a tmpfs, setuid(0) and chmod 4755 /usr/bin/id are all still refused; under any
#   other kernel, or if one of those goes through, it is ALLOWED. gVisor has no /proc/<pid>/ns/mnt.
# expect-status: ok
# expect-stdout-regex: ^unshare\(CLONE_NEWUSER\): (DENIED errno=EPERM|SENTRY-ONLY)$
# expect-stdout-regex: ^unshare\(CLONE_NEWNS\): (DENIED errno=EPERM|SENTRY-ONLY)$
# expect-stdout-regex: ^unshare\(CLONE_NEWNET\): (DENIED errno=EPERM|SENTRY-ONLY)$
# expect-stdout-regex: ^unshare\(CLONE_NEWPID\): (DENIED errno=EPERM|SENTRY-ONLY)$
# expect-stdout-regex: ^unshare\(CLONE_NEWUTS\): (DENIED errno=EPERM|SENTRY-ONLY)$
# expect-stdout-regex: ^unshare\(CLONE_NEWIPC\): (DENIED errno=EPERM|SENTRY-ONLY)$
# expect-stdout-regex: ^unshare\(CLONE_NEWCGROUP\): (DENIED errno=EPERM|SENTRY-ONLY)$
# expect-stdout-regex: ^unshare\(CLONE_NEWUSER\|CLONE_NEWNS\): (DENIED errno=EPERM|SENTRY-ONLY)$
# expect-stdout-regex: ^open /proc/1/ns/mnt: DENIED errno=(EACCES|ENOENT)$
# expect-stdout-regex: ^(setns\(/proc/self/ns/mnt\): DENIED errno=EPERM|open /proc/self/ns/mnt: DENIED errno=ENOENT)$
# expect-stdout-contains: capabilities after: CapEff=0000000000000000
# expect-stdout-not-contains: ALLOWED
# limits: wall_time_s=5
import ctypes
import errno
import os
import sys

libc = ctypes.CDLL(None, use_errno=True)
FLAGS = {
    "CLONE_NEWUSER": 0x10000000,
    "CLONE_NEWNS": 0x00020000,
    "CLONE_NEWNET": 0x40000000,
    "CLONE_NEWPID": 0x20000000,
    "CLONE_NEWUTS": 0x04000000,
    "CLONE_NEWIPC": 0x08000000,
    "CLONE_NEWCGROUP": 0x02000000,
}
buf = ctypes.create_string_buffer(256)
read = libc.syscall(ctypes.c_long(103), ctypes.c_long(3), buf, ctypes.c_long(256))  # syslog READ_ALL
sentry = read > 0 and b"] Starting gVisor..." in buf.raw.split(b"\n", 1)[0]


def syscall(number, *args):
    ctypes.set_errno(0)
    ret = libc.syscall(ctypes.c_long(number), *[ctypes.c_long(a) if isinstance(a, int) else a for a in args])
    return ret, ctypes.get_errno()


def gains():
    """What a namespace could be for, tried inside it; the ones that went through."""
    got = []
    for label, action in (
        ("read /etc/shadow", lambda: open("/etc/shadow").read()),
        ("create /etc/pwn", lambda: os.close(os.open("/etc/pwn", os.O_WRONLY | os.O_CREAT, 0o644))),
        ("chmod 4755 /usr/bin/id", lambda: os.chmod("/usr/bin/id", 0o4755)),
        ("setuid(0)", lambda: os.setuid(0)),
    ):
        try:
            action()
        except OSError:
            continue
        got.append(label)
    for label, args in (
        ("remount / rw", (b"none", b"/", None, 32, None)),
        ("mount tmpfs", (b"none", b"/tmp", b"tmpfs", 0, None)),
    ):
        if syscall(165, *args)[0] == 0:
            got.append(label)
    return got


def try_unshare(label, flags):
    pid = os.fork()
    if pid == 0:
        ret, code = syscall(272, flags)
        if ret == -1:
            print(f"{label}: DENIED errno={errno.errorcode[code]}")
        else:
            got = gains()
            print(f"{label}: SENTRY-ONLY" if sentry and not got else f"{label}: ALLOWED ret={ret} then {got}")
        sys.stdout.flush()
        os._exit(0)
    os.waitpid(pid, 0)


for name, flag in FLAGS.items():
    try_unshare(f"unshare({name})", flag)
try_unshare("unshare(CLONE_NEWUSER|CLONE_NEWNS)", FLAGS["CLONE_NEWUSER"] | FLAGS["CLONE_NEWNS"])
try:
    os.open("/proc/1/ns/mnt", os.O_RDONLY)
    print("open /proc/1/ns/mnt: ALLOWED")
except OSError as exc:
    print(f"open /proc/1/ns/mnt: DENIED errno={errno.errorcode[exc.errno]}")  # PID 1 is non-dumpable
try:
    fd = os.open("/proc/self/ns/mnt", os.O_RDONLY)
except OSError as exc:
    print(f"open /proc/self/ns/mnt: DENIED errno={errno.errorcode[exc.errno]}")
else:
    ret, code = syscall(308, fd, 0)
    print("setns(/proc/self/ns/mnt): " + (f"DENIED errno={errno.errorcode[code]}" if ret == -1 else "ALLOWED"))
cap = [line.split()[1] for line in open("/proc/self/status") if line.startswith("CapEff")][0]
print(f"capabilities after: CapEff={cap}")
