# row: N01
# attack: Reach the internet over TCP: connect to 1.1.1.1:443 and 8.8.8.8:53. With network none there is
#   no route, so connect must fail at once with ENETUNREACH (no SYN is ever sent, nothing waits for a timeout).
# expect-status: ok
# expect-stdout-regex: 1\.1\.1\.1:443: DENIED errno=E(NET|HOST)UNREACH fast=yes
# expect-stdout-regex: 8\.8\.8\.8:53: DENIED errno=E(NET|HOST)UNREACH fast=yes
# expect-stdout-not-contains: ALLOWED
# limits: wall_time_s=5
import errno
import socket
import time

for host, port in (("1.1.1.1", 443), ("8.8.8.8", 53)):
    t0 = time.monotonic()
    try:
        socket.create_connection((host, port), timeout=3).close()
    except OSError as exc:
        fast = "yes" if time.monotonic() - t0 < 0.5 else "no"
        print(f"{host}:{port}: DENIED errno={errno.errorcode.get(exc.errno, exc.errno)} fast={fast}")
    else:
        print(f"{host}:{port}: ALLOWED")
