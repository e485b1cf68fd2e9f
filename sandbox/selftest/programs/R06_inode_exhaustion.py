# row: R06
# attack: Inode exhaustion: create empty files in /tmp until the kernel refuses (the bar's 10**6 files);
#   the count must stay within the tmpfs nr_inodes cap. Then hold.
# expect-status: ok
# expect-stdout-contains: create: DENIED errno=ENOSPC within-cap=yes
# expect-stdout-not-contains: ALLOWED
# limits: wall_time_s=10
# canary: overlap
# xfail-under-runsc: gVisor differs, not a gap: gVisor's tmpfs ignores nr_inodes (statvfs reports f_files 0), so
#   there is no inode cap to reach: the files live in the Sentry's memory, which the sandbox's memory limit bounds,
#   and no host inode is used; at about 10,000 files/s under ptrace the run ends cpu_time_exceeded first
import errno
import os
import time

cap = os.statvfs("/tmp").f_files
created = 0
try:
    while created < 10**6:
        os.close(os.open(f"/tmp/i{created}", os.O_WRONLY | os.O_CREAT, 0o600))
        created += 1
except OSError as exc:
    ok = "yes" if created <= cap else "no"
    print(f"create: DENIED errno={errno.errorcode[exc.errno]} within-cap={ok} files={created} cap={cap}", flush=True)
else:
    print(f"create: ALLOWED {created} files", flush=True)
time.sleep(4)
