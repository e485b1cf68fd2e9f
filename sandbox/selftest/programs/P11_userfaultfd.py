# row: P11
# attack: userfaultfd, the classic primitive for winning kernel races: plain and UFFD_USER_MODE_ONLY. The
#   default seccomp profile only allows it with CAP_SYS_PTRACE: EPERM.
# expect-status: ok
# expect-stdout-contains: userfaultfd(O_CLOEXEC): DENIED errno=EPERM
# expect-stdout-contains: userfaultfd(UFFD_USER_MODE_ONLY): DENIED errno=EPERM
# expect-stdout-not-contains: ALLOWED
# limits: wall_time_s=5
import ctypes
import errno
import os

libc = ctypes.CDLL(None, use_errno=True)
for label, flags in (("O_CLOEXEC", os.O_CLOEXEC), ("UFFD_USER_MODE_ONLY", os.O_CLOEXEC | 1)):
    ctypes.set_errno(0)
    ret = libc.syscall(ctypes.c_long(323), ctypes.c_long(flags))
    code = ctypes.get_errno()
    print(f"userfaultfd({label}): " + (f"DENIED errno={errno.errorcode[code]}" if ret == -1 else f"ALLOWED fd={ret}"))
