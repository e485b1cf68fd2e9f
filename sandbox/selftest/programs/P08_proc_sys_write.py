# row: P08
# attack: Reconfigure the kernel through procfs: write /proc/sys/net/ipv4/ip_forward, kernel/core_pattern
#   (a pipe would run a host program as root), kernel/hostname, vm/drop_caches, and /proc/sysrq-trigger.
#   /proc/sys must be mounted read-only; under gVisor (its kernel log starts with "Starting gVisor...")
#   /proc/sys is the Sentry's, not a mount of its own, and has no core_pattern or drop_caches (ENOENT):
#   the writes are what must be refused there.
# expect-status: ok
# expect-stdout-regex: ^/proc/sys/net/ipv4/ip_forward: DENIED errno=(EROFS|EACCES)$
# expect-stdout-regex: ^/proc/sys/kernel/core_pattern: DENIED errno=(EROFS|EACCES|ENOENT)$
# expect-stdout-regex: ^/proc/sys/kernel/hostname: DENIED errno=(EROFS|EACCES)$
# expect-stdout-regex: ^/proc/sys/vm/drop_caches: DENIED errno=(EROFS|EACCES|ENOENT)$
# expect-stdout-regex: ^/proc/sysrq-trigger: DENIED errno=(EROFS|EACCES|ENOENT)$
# expect-stdout-regex: ^/proc/sys mounted read-only: (yes|not a mount of its own under gVisor)$
# expect-stdout-contains: core_pattern unchanged: yes
# expect-stdout-not-contains: ALLOWED
# limits: wall_time_s=5
import ctypes
import errno
import os


def core_pattern():
    try:
        return open("/proc/sys/kernel/core_pattern").read()
    except FileNotFoundError:
        return None


buf = ctypes.create_string_buffer(256)
read = ctypes.CDLL(None).syscall(ctypes.c_long(103), ctypes.c_long(3), buf, ctypes.c_long(256))  # syslog READ_ALL
sentry = read > 0 and b"] Starting gVisor..." in buf.raw.split(b"\n", 1)[0]
before = core_pattern()
writes = {
    "/proc/sys/net/ipv4/ip_forward": b"1",
    "/proc/sys/kernel/core_pattern": b"|/tmp/pwn %p",
    "/proc/sys/kernel/hostname": b"pwned",
    "/proc/sys/vm/drop_caches": b"3",
    "/proc/sysrq-trigger": b"c",
}
for path, data in writes.items():
    try:
        fd = os.open(path, os.O_WRONLY)
    except OSError as exc:
        print(f"{path}: DENIED errno={errno.errorcode[exc.errno]}")
        continue
    try:
        os.write(fd, data)
    except OSError as exc:
        print(f"{path}: DENIED errno={errno.errorcode[exc.errno]} (on write)")
    else:
        print(f"{path}: ALLOWED")
    finally:
        os.close(fd)
mounts = [line.split() for line in open("/proc/self/mountinfo")]
own = [fields for fields in mounts if fields[4] == "/proc/sys"]
if own:
    print(f"/proc/sys mounted read-only: {'yes' if any('ro' in f[5].split(',') for f in own) else 'no'}")
else:
    print(f"/proc/sys mounted read-only: {'not a mount of its own under gVisor' if sentry else 'no (not a mount)'}")
print(f"core_pattern unchanged: {'yes' if core_pattern() == before else 'no'}")
