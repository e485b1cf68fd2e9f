# row: E07
# attack: Read the kernel log (addresses, other tenants' traces): syslog(2) READ_ALL and SIZE_BUFFER,
#   /dev/kmsg, /proc/kmsg, and the dmesg tool. All must be refused.
# expect-status: ok
# expect-stdout-contains: syslog(READ_ALL): DENIED errno=EPERM
# expect-stdout-contains: syslog(SIZE_BUFFER): DENIED errno=EPERM
# expect-stdout-contains: /dev/kmsg: DENIED errno=ENOENT
# expect-stdout-regex: ^/proc/kmsg: DENIED errno=(EACCES|EPERM)$
# expect-stdout-regex: ^dmesg: (absent|failed rc=[1-9]\d*)$
# expect-stdout-not-contains: ALLOWED
# limits: wall_time_s=5
# xfail-under-runsc: gVisor differs, not a gap: syslog(READ_ALL) and dmesg answer with gVisor's own synthetic boot
#   log, never the host kernel's
import ctypes
import errno
import os
import shutil
import subprocess

libc = ctypes.CDLL(None, use_errno=True)
buf = ctypes.create_string_buffer(4096)
for label, action, args in (("READ_ALL", 3, (buf, 4096)), ("SIZE_BUFFER", 10, (None, 0))):
    ctypes.set_errno(0)
    ret = libc.syscall(ctypes.c_long(103), ctypes.c_long(action), *args)
    code = ctypes.get_errno()
    print(f"syslog({label}): " + (f"DENIED errno={errno.errorcode[code]}" if ret == -1 else f"ALLOWED ret={ret}"))
for path in ("/dev/kmsg", "/proc/kmsg"):
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        print(f"{path}: DENIED errno={errno.errorcode[exc.errno]}")
    else:
        os.close(fd)
        print(f"{path}: ALLOWED")
if shutil.which("dmesg") is None:
    print("dmesg: absent")
else:
    done = subprocess.run(["dmesg"], capture_output=True, text=True, timeout=5)
    print(f"dmesg: failed rc={done.returncode}" if done.returncode else f"dmesg: ALLOWED {done.stdout[:80]!r}")
    print(f"  {done.stderr.strip()[:200]}")
