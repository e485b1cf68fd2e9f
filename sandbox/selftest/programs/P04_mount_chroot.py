# row: P04
# attack: Filesystem namespace tricks as raw x86_64 syscalls: mount a tmpfs, remount / read-write, bind
#   /proc/1/root, umount2 /tmp, pivot_root, chroot. Without CAP_SYS_ADMIN/CAP_SYS_CHROOT: EPERM for each.
#   / must still be read-only after: mountinfo says ro, and statvfs says ST_RDONLY where it reports mount
#   flags at all (gVisor's statvfs reports none, on any mount: "not reported").
# expect-status: ok
# expect-stdout-contains: mount tmpfs on /tmp: DENIED errno=EPERM
# expect-stdout-contains: remount / rw: DENIED errno=EPERM
# expect-stdout-contains: bind /proc/1/root: DENIED errno=EPERM
# expect-stdout-contains: umount2 /tmp: DENIED errno=EPERM
# expect-stdout-contains: pivot_root: DENIED errno=EPERM
# expect-stdout-contains: chroot /tmp: DENIED errno=EPERM
# expect-stdout-regex: ^statvfs\(/\) still read-only: (yes|not reported: statvfs shows no mount flags on any mount)$
# expect-stdout-contains: mountinfo / still read-only: yes
# expect-stdout-not-contains: ALLOWED
# limits: wall_time_s=5
import ctypes
import errno
import os

libc = ctypes.CDLL(None, use_errno=True)
SYS = {"mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161}
MS_REMOUNT, MS_BIND, MS_RDONLY = 32, 4096, 1


def syscall(name, label, *args):
    ctypes.set_errno(0)
    ret = libc.syscall(ctypes.c_long(SYS[name]), *[ctypes.c_long(a) if isinstance(a, int) else a for a in args])
    code = ctypes.get_errno()
    print(f"{label}: " + (f"DENIED errno={errno.errorcode[code]}" if ret == -1 else f"ALLOWED ret={ret}"))


os.makedirs("/tmp/new/old", exist_ok=True)
syscall("mount", "mount tmpfs on /tmp", b"none", b"/tmp", b"tmpfs", 0, None)
syscall("mount", "remount / rw", b"none", b"/", None, MS_REMOUNT, None)
syscall("mount", "bind /proc/1/root", b"/proc/1/root", b"/tmp/new", None, MS_BIND, None)
syscall("umount2", "umount2 /tmp", b"/tmp", 0)
syscall("pivot_root", "pivot_root", b"/tmp/new", b"/tmp/new/old")
syscall("chroot", "chroot /tmp", b"/tmp")
FLAGS = os.ST_RDONLY | os.ST_NOSUID | os.ST_NODEV | os.ST_NOEXEC
reported = any(os.statvfs(path).f_flag & FLAGS for path in ("/", "/proc", "/sys", "/tmp", "/dev/shm", "/workspace"))
readonly = "yes" if os.statvfs("/").f_flag & MS_RDONLY else "no" if reported else "not reported"
print(f"statvfs(/) still read-only: {readonly}{'' if reported else ': statvfs shows no mount flags on any mount'}")
root = [line.split() for line in open("/proc/self/mountinfo") if line.split()[4] == "/"][-1]
print(f"mountinfo / still read-only: {'yes' if 'ro' in root[5].split(',') else 'no'}")
