# row: P11
# attack: io_uring (a large kernel attack surface whose operations bypass seccomp): io_uring_setup with
#   8 entries. Docker 20.10's default profile allows it; the runner's own seccomp layer for the program
#   answers EPERM (as Docker >= 25 profiles would).
# expect-status: ok
# expect-stdout-regex: ^io_uring_setup: DENIED errno=(EPERM|ENOSYS)$
# expect-stdout-not-contains: ALLOWED
# limits: wall_time_s=5
import ctypes
import errno

libc = ctypes.CDLL(None, use_errno=True)
params = ctypes.create_string_buffer(120)
ctypes.set_errno(0)
ret = libc.syscall(ctypes.c_long(425), ctypes.c_long(8), params)
code = ctypes.get_errno()
print("io_uring_setup: " + (f"DENIED errno={errno.errorcode[code]}" if ret == -1 else f"ALLOWED fd={ret}"))
