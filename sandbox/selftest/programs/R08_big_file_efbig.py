# row: R08
# attack: One file past RLIMIT_FSIZE, with SIGXFSZ ignored so the errno is visible: the last byte below
#   the limit can be written (sparse, no space used), the first byte at the limit and a truncate past it
#   must fail with EFBIG.
# expect-status: ok
# expect-stdout-contains: fsize-limited: yes
# expect-stdout-contains: write-below-limit: ok
# expect-stdout-contains: write-at-limit: DENIED errno=EFBIG
# expect-stdout-contains: truncate-past-limit: DENIED errno=EFBIG
# expect-stdout-not-contains: ALLOWED
# limits: wall_time_s=5 workdir_mb=16
# canary: concurrent
import errno
import os
import resource
import signal

soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
print(f"RLIMIT_FSIZE soft={soft} hard={hard}")
print(f"fsize-limited: {'yes' if soft == hard == 16 << 20 else 'no'}")
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
fd = os.open("/tmp/big", os.O_WRONLY | os.O_CREAT, 0o600)
os.pwrite(fd, b"x", soft - 1)
print("write-below-limit: ok")
for name, action in (
    ("write-at-limit", lambda: os.pwrite(fd, b"x", soft)),
    ("truncate-past-limit", lambda: os.ftruncate(fd, soft + 1)),
):
    try:
        action()
    except OSError as exc:
        print(f"{name}: DENIED errno={errno.errorcode[exc.errno]}")
    else:
        print(f"{name}: ALLOWED size={os.fstat(fd).st_size}")
