# row: N04
# attack: Cloud metadata services: 169.254.169.254:80 (AWS/GCP/Azure), 100.100.100.200:80 (Alibaba) over
#   TCP and [fd00:ec2::254]:80 (AWS IPv6). No route may exist.
# expect-status: ok
# expect-stdout-regex: 169\.254\.169\.254:80: DENIED errno=E(NET|HOST)UNREACH
# expect-stdout-regex: 100\.100\.100\.200:80: DENIED errno=E(NET|HOST)UNREACH
# expect-stdout-regex: fd00:ec2::254:80: DENIED errno=E(NET|HOST)UNREACH
# expect-stdout-not-contains: ALLOWED
# limits: wall_time_s=5
import errno
import socket

for host, port in (("169.254.169.254", 80), ("100.100.100.200", 80), ("fd00:ec2::254", 80)):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(3)
        try:
            s.connect((host, port))
        except OSError as exc:
            print(f"{host}:{port}: DENIED errno={errno.errorcode.get(exc.errno, exc.errno)}")
        else:
            print(f"{host}:{port}: ALLOWED")
