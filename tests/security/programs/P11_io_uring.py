# row: P11
# attack: io_uring (a large kernel attack surface whose operations bypass seccomp): io_uring_setup with
#   8 entries. The bar expects EPERM/ENOSYS, as Docker >= 25 profiles give.
# expect-status: ok
# expect-stdout-regex: ^io_uring_setup: DENIED errno=(EPERM|ENOSYS)$
# expect-stdout-not-contains: ALLOWED
# limits: wall_time_s=5
# xfail: GAP: Docker 20.10's default seccomp profile allows io_uring_setup/io_uring_enter/io_uring_register
#   (removed from the default profile in Docker 25) and kernel.io_uring_disabled=0 on this host; observed
#   io_uring_setup returning an fd. Fix: custom seccomp profile without io_uring_* (planned) or
#   sysctl kernel.io_uring_disabled=2 on the host.
import ctypes
import errno

libc = ctypes.CDLL(None, use_errno=True)
params = ctypes.create_string_buffer(120)
ctypes.set_errno(0)
ret = libc.syscall(ctypes.c_long(425), ctypes.c_long(8), params)
code = ctypes.get_errno()
print("io_uring_setup: " + (f"DENIED errno={errno.errorcode[code]}" if ret == -1 else f"ALLOWED fd={ret}"))
