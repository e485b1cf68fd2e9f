# row: P07
# attack: Load and unload kernel modules: init_module, finit_module (on an fd of a file we wrote) and
#   delete_module. Without CAP_SYS_MODULE (and blocked by seccomp) each must fail with EPERM.
# expect-status: ok
# expect-stdout-contains: init_module: DENIED errno=EPERM
# expect-stdout-contains: finit_module: DENIED errno=EPERM
# expect-stdout-contains: delete_module(ext4): DENIED errno=EPERM
# expect-stdout-not-contains: ALLOWED
# limits: wall_time_s=5
import ctypes
import errno
import os

libc = ctypes.CDLL(None, use_errno=True)


def syscall(label, number, *args):
    ctypes.set_errno(0)
    ret = libc.syscall(ctypes.c_long(number), *[ctypes.c_long(a) if isinstance(a, int) else a for a in args])
    code = ctypes.get_errno()
    print(f"{label}: " + (f"DENIED errno={errno.errorcode[code]}" if ret == -1 else f"ALLOWED ret={ret}"))


image = b"\x7fELF" + bytes(4092)
syscall("init_module", 175, image, len(image), b"")
with open("/tmp/evil.ko", "wb") as f:
    f.write(image)
fd = os.open("/tmp/evil.ko", os.O_RDONLY)
syscall("finit_module", 313, fd, b"", 0)
syscall("delete_module(ext4)", 176, b"ext4", os.O_NONBLOCK)
