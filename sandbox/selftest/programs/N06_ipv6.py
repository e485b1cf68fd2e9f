# row: N06
# attack: IPv6 ways out: TCP to a public address (2606:4700:4700::1111), UDP to all-nodes/all-routers
#   link-local multicast on lo, and to the IPv4-mapped address of 1.1.1.1. None may have a route.
# expect-status: ok
# expect-stdout-regex: tcp \[2606:4700:4700::1111\]:443: DENIED errno=E(NET|HOST)UNREACH
# expect-stdout-regex: tcp \[::ffff:1\.1\.1\.1\]:443: DENIED errno=E(NET|HOST)UNREACH
# expect-stdout-regex: ^udp \[ff02::1%1\]:9: DENIED errno=(ENETUNREACH|EADDRNOTAVAIL|ENODEV|EINVAL)$
# expect-stdout-regex: ^udp \[ff02::2%1\]:9: DENIED errno=(ENETUNREACH|EADDRNOTAVAIL|ENODEV|EINVAL)$
# expect-stdout-not-contains: ALLOWED
# limits: wall_time_s=5
import errno
import socket

for host, port in (("2606:4700:4700::1111", 443), ("::ffff:1.1.1.1", 443)):
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
        s.settimeout(2)
        try:
            s.connect((host, port))
        except OSError as exc:
            print(f"tcp [{host}]:{port}: DENIED errno={errno.errorcode.get(exc.errno, exc.errno)}")
        else:
            print(f"tcp [{host}]:{port}: ALLOWED")
for group in ("ff02::1", "ff02::2"):
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
        try:
            s.sendto(b"x", (group, 9, 0, 1))
        except OSError as exc:
            print(f"udp [{group}%1]:9: DENIED errno={errno.errorcode[exc.errno]}")
        else:
            print(f"udp [{group}%1]:9: ALLOWED (sent on lo, scope {socket.if_indextoname(1)})")
