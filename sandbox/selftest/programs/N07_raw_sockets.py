# row: N07
# attack: Raw sockets for spoofing and sniffing: AF_PACKET/SOCK_RAW, AF_INET/SOCK_RAW ICMP and TCP,
#   AF_INET6/SOCK_RAW ICMPv6. Without CAP_NET_RAW all must fail with EPERM. An unprivileged ICMP "ping"
#   datagram socket may exist (net.ipv4.ping_group_range) but must have nowhere to send.
# expect-status: ok
# expect-stdout-contains: AF_PACKET/SOCK_RAW: DENIED errno=EPERM
# expect-stdout-contains: AF_INET/SOCK_RAW/ICMP: DENIED errno=EPERM
# expect-stdout-contains: AF_INET/SOCK_RAW/TCP: DENIED errno=EPERM
# expect-stdout-contains: AF_INET6/SOCK_RAW/ICMPV6: DENIED errno=EPERM
# expect-stdout-regex: ^ping-socket: (DENIED errno=EACCES|created; sendto 1\.1\.1\.1: DENIED errno=E(NET|HOST)UNREACH)$
# expect-stdout-not-contains: ALLOWED
# limits: wall_time_s=5
import errno
import socket

kinds = (
    ("AF_PACKET/SOCK_RAW", socket.AF_PACKET, socket.SOCK_RAW, 0x0300),
    ("AF_INET/SOCK_RAW/ICMP", socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP),
    ("AF_INET/SOCK_RAW/TCP", socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP),
    ("AF_INET6/SOCK_RAW/ICMPV6", socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6),
)
for name, family, kind, proto in kinds:
    try:
        socket.socket(family, kind, proto).close()
    except OSError as exc:
        print(f"{name}: DENIED errno={errno.errorcode[exc.errno]}")
    else:
        print(f"{name}: ALLOWED")
try:
    ping = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
except OSError as exc:
    print(f"ping-socket: DENIED errno={errno.errorcode[exc.errno]}")
else:
    echo = b"\x08\x00\xf7\xff\x00\x00\x00\x00"
    try:
        ping.sendto(echo, ("1.1.1.1", 0))
    except OSError as exc:
        print(f"ping-socket: created; sendto 1.1.1.1: DENIED errno={errno.errorcode[exc.errno]}")
    else:
        print("ping-socket: created; sendto 1.1.1.1: ALLOWED")
    ping.close()
