# row: R07
# attack: Disk fill through the image's root filesystem: create /big, and /var/tmp/big in a directory that
#   is world-writable (mode 1777) in the image, so only the read-only mount can refuse it (EROFS, not EACCES).
# expect-status: ok
# expect-stdout-contains: /big: DENIED errno=EROFS
# expect-stdout-contains: /var/tmp/big: DENIED errno=EROFS
# expect-stdout-contains: /var/tmp mode=0o1777
# expect-stdout-contains: statvfs(/) read-only: yes
# expect-stdout-not-contains: ALLOWED
# limits: wall_time_s=5
# xfail-under-runsc: gVisor differs, not a gap: statvfs(/) does not report ST_RDONLY (the writes are refused:
#   EACCES, EROFS)
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
print(f"statvfs(/) read-only: {'yes' if os.statvfs('/').f_flag & os.ST_RDONLY else 'no'}")
