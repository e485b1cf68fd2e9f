# row: F02
# attack: Add a root user by appending to /etc/passwd, and drop a marker file /pwn in the root directory.
# expect-status: ok
# expect-stdout-regex: ^/etc/passwd: DENIED errno=(EACCES|EROFS)$
# expect-stdout-regex: ^/pwn: DENIED errno=(EACCES|EROFS)$
# expect-stdout-contains: passwd-unchanged: yes
# expect-stdout-not-contains: ALLOWED
# limits: wall_time_s=5
import errno
import os

before = open("/etc/passwd").read()
attempts = (
    ("/etc/passwd", lambda: os.open("/etc/passwd", os.O_WRONLY | os.O_APPEND)),
    ("/pwn", lambda: os.open("/pwn", os.O_WRONLY | os.O_CREAT, 0o644)),
)
for name, attempt in attempts:
    try:
        fd = attempt()
    except OSError as exc:
        print(f"{name}: DENIED errno={errno.errorcode[exc.errno]}")
    else:
        os.write(fd, b"pwn::0:0::/:/bin/sh\n")
        os.close(fd)
        print(f"{name}: ALLOWED")
print(f"passwd-unchanged: {'yes' if open('/etc/passwd').read() == before else 'no'}")
