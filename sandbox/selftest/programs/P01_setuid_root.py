# row: P01
# attack: Become root the direct way: setuid(0), setgid(0), setresuid(0,0,0), seteuid(0), setgroups([0]).
#   Without CAP_SETUID/CAP_SETGID each must fail with EPERM and the ids must be unchanged.
# expect-status: ok
# expect-stdout-contains: setuid(0): DENIED errno=EPERM
# expect-stdout-contains: setgid(0): DENIED errno=EPERM
# expect-stdout-contains: setresuid(0, 0, 0): DENIED errno=EPERM
# expect-stdout-contains: seteuid(0): DENIED errno=EPERM
# expect-stdout-contains: setgroups([0]): DENIED errno=EPERM
# expect-stdout-contains: ids after: uid=65534 euid=65534 gid=65534 egid=65534
# expect-stdout-not-contains: ALLOWED
# limits: wall_time_s=5
import errno
import os

attempts = (
    ("setuid(0)", lambda: os.setuid(0)),
    ("setgid(0)", lambda: os.setgid(0)),
    ("setresuid(0, 0, 0)", lambda: os.setresuid(0, 0, 0)),
    ("seteuid(0)", lambda: os.seteuid(0)),
    ("setgroups([0])", lambda: os.setgroups([0])),
)
for name, attempt in attempts:
    try:
        attempt()
    except OSError as exc:
        print(f"{name}: DENIED errno={errno.errorcode[exc.errno]}")
    else:
        print(f"{name}: ALLOWED")
print(f"ids after: uid={os.getuid()} euid={os.geteuid()} gid={os.getgid()} egid={os.getegid()}")
