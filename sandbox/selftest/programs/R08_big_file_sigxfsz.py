# row: R08
# attack: One file past RLIMIT_FSIZE with default signal handling: writing the first byte at the limit
#   must deliver SIGXFSZ, which kills the program (reported as killed by signal 25), no core.
# expect-status: killed
# expect-signal: 25
# expect-stdout-contains: about to cross the limit
# expect-stdout-not-contains: ALLOWED
# limits: wall_time_s=5 workdir_mb=16
import os
import resource

soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
fd = os.open("/tmp/big", os.O_WRONLY | os.O_CREAT, 0o600)
print("about to cross the limit", flush=True)
os.pwrite(fd, b"x", soft)
print(f"ALLOWED: file size {os.fstat(fd).st_size}", flush=True)
