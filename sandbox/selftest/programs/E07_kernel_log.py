# row: E07
# attack: Read the kernel log (addresses, other tenants' traces): syslog(2) READ_ALL and SIZE_BUFFER,
#   /dev/kmsg, /proc/kmsg, and the dmesg tool. All must be refused, or answer with a log that is not the
#   host kernel's: gVisor's Sentry serves its own synthetic boot log (first line "Starting gVisor...",
#   no "Linux version" line), reported as SENTRY-LOG; any other log that comes back is ALLOWED.
# expect-status: ok
# expect-stdout-regex: ^syslog\(READ_ALL\): (DENIED errno=EPERM|SENTRY-LOG ret=\d+)$
# expect-stdout-regex: ^syslog\(SIZE_BUFFER\): (DENIED errno=EPERM|SENTRY-LOG ret=\d+)$
# expect-stdout-contains: /dev/kmsg: DENIED errno=ENOENT
# expect-stdout-regex: ^/proc/kmsg: DENIED errno=(EACCES|EPERM|ENOENT)$
# expect-stdout-regex: ^dmesg: (absent|failed rc=[1-9]\d*|SENTRY-LOG)$
# expect-stdout-not-contains: ALLOWED
# limits: wall_time_s=5
import ctypes
import errno
import os
import shutil
import subprocess


def sentry_log(text):
    """gVisor's own log: it starts with the Sentry's banner and has none of a Linux boot's lines."""
    lines = [line for line in text.splitlines() if line.strip()]
    return bool(lines) and lines[0].endswith("] Starting gVisor...") and "Linux version" not in text


libc = ctypes.CDLL(None, use_errno=True)
buf = ctypes.create_string_buffer(4096)
ctypes.set_errno(0)
ret = libc.syscall(ctypes.c_long(103), ctypes.c_long(3), buf, ctypes.c_long(4096))  # SYSLOG_ACTION_READ_ALL
code = ctypes.get_errno()
text = buf.raw[: max(ret, 0)].decode(errors="replace")
sentry = ret >= 0 and sentry_log(text.replace("<6>", ""))
allowed = "SENTRY-LOG" if sentry else "ALLOWED"
print("syslog(READ_ALL): " + (f"DENIED errno={errno.errorcode[code]}" if ret == -1 else f"{allowed} ret={ret}"))
if ret >= 0 and not sentry:
    print(f"  {text[:200]!r}")
ctypes.set_errno(0)
ret = libc.syscall(ctypes.c_long(103), ctypes.c_long(10), None, ctypes.c_long(0))  # SYSLOG_ACTION_SIZE_BUFFER
code = ctypes.get_errno()
print("syslog(SIZE_BUFFER): " + (f"DENIED errno={errno.errorcode[code]}" if ret == -1 else f"{allowed} ret={ret}"))
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
    if done.returncode:
        print(f"dmesg: failed rc={done.returncode}")
    else:
        print("dmesg: SENTRY-LOG" if sentry_log(done.stdout) else f"dmesg: ALLOWED {done.stdout[:80]!r}")
    print(f"  {done.stderr.strip()[:200]}")
