# row: P08
# attack: Reconfigure the kernel through procfs: write /proc/sys/net/ipv4/ip_forward, kernel/core_pattern
#   (a pipe would run a host program as root), kernel/hostname, vm/drop_caches, and /proc/sysrq-trigger.
# expect-status: ok
# expect-stdout-regex: ^/proc/sys/net/ipv4/ip_forward: DENIED errno=(EROFS|EACCES)$
# expect-stdout-regex: ^/proc/sys/kernel/core_pattern: DENIED errno=(EROFS|EACCES)$
# expect-stdout-regex: ^/proc/sys/kernel/hostname: DENIED errno=(EROFS|EACCES)$
# expect-stdout-regex: ^/proc/sys/vm/drop_caches: DENIED errno=(EROFS|EACCES)$
# expect-stdout-regex: ^/proc/sysrq-trigger: DENIED errno=(EROFS|EACCES|ENOENT)$
# expect-stdout-contains: /proc/sys mounted read-only: yes
# expect-stdout-contains: core_pattern unchanged: yes
# expect-stdout-not-contains: ALLOWED
# limits: wall_time_s=5
# xfail-under-runsc: gVisor differs, not a gap: /proc/sys/kernel/core_pattern does not exist, which the program
#   reads
import errno
import os

before = open("/proc/sys/kernel/core_pattern").read()
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
ro = any(line.split()[4] == "/proc/sys" and "ro" in line.split()[5].split(",") for line in open("/proc/self/mountinfo"))
print(f"/proc/sys mounted read-only: {'yes' if ro else 'no'}")
print(f"core_pattern unchanged: {'yes' if open('/proc/sys/kernel/core_pattern').read() == before else 'no'}")
