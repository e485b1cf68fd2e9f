# row: R09
# attack: fd exhaustion: open /dev/null until the kernel refuses, then try to raise RLIMIT_NOFILE past
#   its hard limit. Both must fail; the number of fds must stay within the limit. Then hold them.
# expect-status: ok
# expect-stdout-contains: open: DENIED errno=EMFILE within-limit=yes
# expect-stdout-contains: raise-hard-limit: DENIED
# expect-stdout-not-contains: ALLOWED
# limits: wall_time_s=8
# canary: overlap
import errno
import os
import resource
import time

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
fds = []
try:
    while len(fds) < 10**6:
        fds.append(os.open("/dev/null", os.O_RDONLY))
except OSError as exc:
    ok = "yes" if len(fds) + 3 <= soft <= 4096 else "no"
    print(f"open: DENIED errno={errno.errorcode[exc.errno]} within-limit={ok} fds={len(fds)} nofile={soft}/{hard}")
else:
    print(f"open: ALLOWED {len(fds)} fds")
try:
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard * 4, hard * 4))
except (ValueError, OSError) as exc:
    print(f"raise-hard-limit: DENIED {type(exc).__name__}: {exc}", flush=True)
else:
    print(f"raise-hard-limit: ALLOWED {resource.getrlimit(resource.RLIMIT_NOFILE)}", flush=True)
time.sleep(4)
