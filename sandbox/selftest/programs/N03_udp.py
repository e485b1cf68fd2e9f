# row: N03
# attack: Send UDP datagrams out (8.8.8.8:53, 255.255.255.255:67 broadcast, 224.0.0.251:5353 multicast).
#   With only a loopback interface there is no route: sendto must fail with ENETUNREACH.
# expect-status: ok
# expect-stdout-regex: 8\.8\.8\.8:53: DENIED errno=E(NET|HOST)UNREACH
# expect-stdout-regex: 255\.255\.255\.255:67: DENIED errno=E(NET|HOST)UNREACH
# expect-stdout-regex: 224\.0\.0\.251:5353: DENIED errno=E(NET|HOST)UNREACH
# expect-stdout-not-contains: ALLOWED
# limits: wall_time_s=5
import errno
import socket

for host, port in (("8.8.8.8", 53), ("255.255.255.255", 67), ("224.0.0.251", 5353)):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        try:
            s.sendto(b"x", (host, port))
        except OSError as exc:
            print(f"{host}:{port}: DENIED errno={errno.errorcode[exc.errno]}")
        else:
            print(f"{host}:{port}: ALLOWED (sent)")
