# row: F01
# attack: Read /etc/shadow (root:shadow 0640 in the image) as the sandbox user.
# expect-status: ok
# expect-stdout-contains: /etc/shadow: DENIED errno=EACCES
# expect-stdout-contains: uid=65534
# expect-stdout-not-contains: ALLOWED
# limits: wall_time_s=5
import errno
import os

print(f"uid={os.getuid()} euid={os.geteuid()}")
try:
    with open("/etc/shadow") as f:
        print(f"/etc/shadow: ALLOWED {f.read()[:40]!r}")
except OSError as exc:
    print(f"/etc/shadow: DENIED errno={errno.errorcode[exc.errno]}")
