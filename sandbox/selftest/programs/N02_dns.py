# row: N02
# attack: Resolve names (example.com, the GCP metadata name) and send a raw DNS query
#   to the resolvers of /etc/resolv.conf (or 8.8.8.8 when there is none). External names must not resolve,
#   quickly, and the raw query must not leave.
# expect-status: ok
# expect-stdout-regex: ^example\.com: DENIED gaierror=EAI_(AGAIN|NONAME) fast=yes$
# expect-stdout-regex: ^metadata\.google\.internal: DENIED gaierror=EAI_(AGAIN|NONAME) fast=yes$
# expect-stdout-regex: ^udp-query \S+:53: DENIED errno=E(NET|HOST)UNREACH$
# expect-stdout-not-contains: ALLOWED
# limits: wall_time_s=8
import errno
import socket
import time

codes = {getattr(socket, n): n for n in dir(socket) if n.startswith("EAI_")}
for name in ("example.com", "metadata.google.internal"):
    t0 = time.monotonic()
    try:
        addresses = socket.getaddrinfo(name, 80)
    except socket.gaierror as exc:
        fast = "yes" if time.monotonic() - t0 < 2 else "no"
        print(f"{name}: DENIED gaierror={codes.get(exc.errno, exc.errno)} fast={fast}")
    else:
        print(f"{name}: ALLOWED {addresses[0][4]}")
try:
    resolvers = [line.split()[1] for line in open("/etc/resolv.conf") if line.startswith("nameserver")]
except OSError:
    resolvers = []
query = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01"
for server in [*resolvers, "8.8.8.8"]:
    family = socket.AF_INET6 if ":" in server else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        try:
            s.sendto(query, (server, 53))
        except OSError as exc:
            print(f"udp-query {server}:53: DENIED errno={errno.errorcode[exc.errno]}")
        else:
            print(f"udp-query {server}:53: ALLOWED (sent)")
