# row: R05
# attack: Disk fill: write 1 MiB chunks into 8 MiB files (below RLIMIT_FSIZE) in every writable tmpfs
#   until the kernel refuses; the bytes written must stay within each tmpfs's size cap. Then hold.
# expect-status: ok
# expect-stdout-contains: /tmp: DENIED errno=ENOSPC within-cap=yes
# expect-stdout-contains: /workspace: DENIED errno=ENOSPC within-cap=yes
# expect-stdout-contains: /dev/shm: DENIED errno=ENOSPC within-cap=yes
# expect-stdout-not-contains: ALLOWED
# limits: wall_time_s=10 memory_mb=256 workdir_mb=32
# canary: overlap
import errno
import os
import time

CHUNK = b"\xa5" * (1 << 20)


def fill(directory):
    cap = os.statvfs(directory).f_blocks * os.statvfs(directory).f_frsize
    written = 0
    for i in range(100_000):
        fd = os.open(f"{directory}/fill-{i}", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            for _ in range(8):
                view = memoryview(CHUNK)
                while view:
                    n = os.write(fd, view)
                    written += n
                    view = view[n:]
        except OSError as exc:
            ok = "yes" if written <= cap else "no"
            print(
                f"{directory}: DENIED errno={errno.errorcode[exc.errno]} within-cap={ok} written={written} cap={cap}",
                flush=True,
            )
            return
        finally:
            os.close(fd)
    print(f"{directory}: ALLOWED written={written}", flush=True)


for d in ("/tmp", "/workspace", "/dev/shm"):
    fill(d)
time.sleep(4)
