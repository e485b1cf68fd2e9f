# row: R07
# attack: Disk fill through the image's root filesystem: create /big, and /var/tmp/big in a directory that
#   is world-writable (mode 1777) in the image, so only the read-only mount can refuse it (EROFS, not EACCES).
#   /big may be EACCES (gVisor checks the directory's permission first). / must be ro in mountinfo, and in
#   statvfs where it reports mount flags at all (gVisor's reports none, on any mount: "not reported").
# expect-status: ok
# expect-stdout-regex: ^/big: DENIED errno=(EROFS|EACCES)$
# expect-stdout-contains: /var/tmp/big: DENIED errno=EROFS
# expect-stdout-contains: /var/tmp mode=0o1777
# expect-stdout-regex: ^statvfs\(/\) read-only: (yes|not reported: statvfs shows no mount flags on any mount)$
# expect-stdout-contains: mountinfo / read-only: yes
# expect-stdout-not-contains: ALLOWED
# limits: wall_time_s=5
import errno
import os

print(f"/var/tmp mode={oct(os.stat('/var/tmp').st_mode & 0o7777)}")
for path in ("/big", "/var/tmp/big"):
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    except OSError as exc:
        print(f"{path}: DENIED errno={errno.errorcode[exc.errno]}")
    else:
        os.close(fd)
        print(f"{path}: ALLOWED")
FLAGS = os.ST_RDONLY | os.ST_NOSUID | os.ST_NODEV | os.ST_NOEXEC
reported = any(os.statvfs(path).f_flag & FLAGS for path in ("/", "/proc", "/sys", "/tmp", "/dev/shm", "/workspace"))
readonly = "yes" if os.statvfs("/").f_flag & os.ST_RDONLY else "no" if reported else "not reported"
print(f"statvfs(/) read-only: {readonly}{'' if reported else ': statvfs shows no mount flags on any mount'}")
root = [line.split() for line in open("/proc/self/mountinfo") if line.split()[4] == "/"][-1]
print(f"mountinfo / read-only: {'yes' if 'ro' in root[5].split(',') else 'no'}")
