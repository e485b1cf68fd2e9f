# row: P05
# attack: New namespaces to regain capabilities inside them: unshare(CLONE_NEWUSER), and NEWNS, NEWNET,
#   NEWPID, NEWUTS, NEWIPC, NEWCGROUP; setns (PID 1's namespace files do not even open: the runner is
#   non-dumpable). All must fail.
# expect-status: ok
# expect-stdout-contains: unshare(CLONE_NEWUSER): DENIED errno=EPERM
# expect-stdout-contains: unshare(CLONE_NEWNS): DENIED errno=EPERM
# expect-stdout-contains: unshare(CLONE_NEWNET): DENIED errno=EPERM
# expect-stdout-contains: unshare(CLONE_NEWPID): DENIED errno=EPERM
# expect-stdout-contains: unshare(CLONE_NEWUTS): DENIED errno=EPERM
# expect-stdout-contains: unshare(CLONE_NEWIPC): DENIED errno=EPERM
# expect-stdout-contains: unshare(CLONE_NEWCGROUP): DENIED errno=EPERM
# expect-stdout-contains: unshare(CLONE_NEWUSER|CLONE_NEWNS): DENIED errno=EPERM
# expect-stdout-contains: open /proc/1/ns/mnt: DENIED errno=EACCES
# expect-stdout-contains: setns(/proc/self/ns/mnt): DENIED errno=EPERM
# expect-stdout-contains: capabilities after: CapEff=0000000000000000
# expect-stdout-not-contains: ALLOWED
# limits: wall_time_s=5
# xfail-under-runsc: gVisor differs, not a gap: unshare() of every namespace succeeds: they are the Sentry's
#   namespaces, not the host's; /proc/self/ns does not exist
import ctypes
import errno
import os

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


def syscall(label, number, *args):
    ctypes.set_errno(0)
    ret = libc.syscall(ctypes.c_long(number), *[ctypes.c_long(a) for a in args])
    code = ctypes.get_errno()
    print(f"{label}: " + (f"DENIED errno={errno.errorcode[code]}" if ret == -1 else f"ALLOWED ret={ret}"))


for name, flag in FLAGS.items():
    syscall(f"unshare({name})", 272, flag)
syscall("unshare(CLONE_NEWUSER|CLONE_NEWNS)", 272, FLAGS["CLONE_NEWUSER"] | FLAGS["CLONE_NEWNS"])
try:
    os.open("/proc/1/ns/mnt", os.O_RDONLY)
    print("open /proc/1/ns/mnt: ALLOWED")
except OSError as exc:
    print(f"open /proc/1/ns/mnt: DENIED errno={errno.errorcode[exc.errno]}")  # PID 1 is non-dumpable
fd = os.open("/proc/self/ns/mnt", os.O_RDONLY)
syscall("setns(/proc/self/ns/mnt)", 308, fd, 0)
cap = [line.split()[1] for line in open("/proc/self/status") if line.startswith("CapEff")][0]
print(f"capabilities after: CapEff={cap}")
