# row: P06
# attack: ptrace(PTRACE_ATTACH) PID 1 (the runner, same uid as the program) and process_vm_readv it. The
#   default seccomp profile allows ptrace; the runner is non-dumpable, so the kernel refuses with EPERM.
# expect-status: ok
# expect-stdout-contains: ptrace-attach pid1: DENIED errno=EPERM
# expect-stdout-contains: process_vm_readv pid1: DENIED errno=EPERM
# limits: wall_time_s=5
import ctypes
import errno
import os

libc = ctypes.CDLL(None, use_errno=True)
ctypes.set_errno(0)
if libc.syscall(ctypes.c_long(101), ctypes.c_long(16), ctypes.c_long(1), None, None) == 0:
    os.waitpid(1, 0x40000000)
    libc.syscall(ctypes.c_long(101), ctypes.c_long(17), ctypes.c_long(1), None, None)
    print("ptrace-attach pid1: ALLOWED")
else:
    print(f"ptrace-attach pid1: DENIED errno={errno.errorcode[ctypes.get_errno()]}")
buf = ctypes.create_string_buffer(64)
local = (ctypes.c_void_p * 2)(ctypes.addressof(buf), 64)
try:
    address = int(open("/proc/1/maps").readline().split("-")[0], 16)
except OSError:  # not readable once PID 1 is protected: any address will do
    address = 0x400000
remote = (ctypes.c_void_p * 2)(address, 64)
ctypes.set_errno(0)
ret = libc.syscall(ctypes.c_long(310), ctypes.c_long(1), local, ctypes.c_long(1), remote, ctypes.c_long(1), None)
if ret == -1:
    print(f"process_vm_readv pid1: DENIED errno={errno.errorcode[ctypes.get_errno()]}")
else:
    print(f"process_vm_readv pid1: ALLOWED read {ret} bytes: {buf.raw[:16]!r}")
