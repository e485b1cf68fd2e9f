# row: N05
# attack: Host services through the Docker bridge gateway (Judge0 CVE-2024-29021): TCP to 172.17.0.1 on the
#   Docker API (2375/2376), Postgres, Redis, HTTP and SSH ports, and to the host's other usual addresses.
# expect-status: ok
# expect-stdout-regex: 172\.17\.0\.1:2375: DENIED errno=E(NET|HOST)UNREACH
# expect-stdout-regex: 172\.17\.0\.1:5432: DENIED errno=E(NET|HOST)UNREACH
# expect-stdout-regex: 172\.17\.0\.1:6379: DENIED errno=E(NET|HOST)UNREACH
# expect-stdout-regex: 172\.17\.0\.1:8000: DENIED errno=E(NET|HOST)UNREACH
# expect-stdout-regex: 172\.18\.0\.1:8000: DENIED errno=E(NET|HOST)UNREACH
# expect-stdout-regex: 10\.0\.2\.2:22: DENIED errno=E(NET|HOST)UNREACH
# expect-stdout-regex: 192\.168\.1\.1:80: DENIED errno=E(NET|HOST)UNREACH
# expect-stdout-not-contains: ALLOWED
# limits: wall_time_s=8
import errno
import socket

targets = [("172.17.0.1", p) for p in (2375, 2376, 5432, 6379, 8000, 22, 80)]
targets += [("172.18.0.1", 8000), ("10.0.2.2", 22), ("192.168.1.1", 80)]
for host, port in targets:
    with socket.socket() as s:
        s.settimeout(2)
        try:
            s.connect((host, port))
        except OSError as exc:
            print(f"{host}:{port}: DENIED errno={errno.errorcode.get(exc.errno, exc.errno)}")
        else:
            print(f"{host}:{port}: ALLOWED")
