# row: N08
# attack: Change the network over rtnetlink and ioctl: add a default route (RTM_NEWROUTE), add an address
#   to lo (RTM_NEWADDR), create a dummy link (RTM_NEWLINK), and take lo down with SIOCSIFFLAGS. Without
#   CAP_NET_ADMIN the kernel must answer EPERM to each.
# expect-status: ok
# expect-stdout-contains: netlink-dump-links: ['lo']
# expect-stdout-regex: RTM_NEWROUTE default via lo: DENIED errno=(EPERM|EACCES)
# expect-stdout-regex: RTM_NEWADDR 10\.9\.9\.9/8 on lo: DENIED errno=(EPERM|EACCES)
# expect-stdout-regex: RTM_NEWLINK dummy: DENIED errno=(EPERM|EACCES)
# expect-stdout-regex: SIOCSIFFLAGS lo down: DENIED errno=(EPERM|ENOTTY)
# expect-stdout-not-contains: ALLOWED
# limits: wall_time_s=5
import errno
import fcntl
import socket
import struct

NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE, NLM_F_DUMP = 1, 4, 0x200, 0x400, 0x300
RTM_NEWLINK, RTM_GETLINK, RTM_NEWADDR, RTM_NEWROUTE = 16, 18, 20, 24
sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
sock.bind((0, 0))


def attr(kind, payload):
    size = 4 + len(payload)
    return struct.pack("=HH", size, kind) + payload + b"\0" * (-size % 4)


def request(kind, flags, body, seq):
    sock.send(struct.pack("=IHHII", 16 + len(body), kind, flags, seq, 0) + body)
    replies = []
    while True:
        data = sock.recv(65536)
        while data:
            length, rtype, _, _, _ = struct.unpack_from("=IHHII", data)
            if rtype == 2:  # NLMSG_ERROR
                return struct.unpack_from("=i", data, 16)[0], replies
            if rtype == 3:  # NLMSG_DONE
                return 0, replies
            replies.append(data[16:length])
            data = data[(length + 3) & ~3 :]


def report(name, result):
    code = -result
    print(f"{name}: " + (f"DENIED errno={errno.errorcode[code]}" if code else "ALLOWED"))


_, links = request(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, struct.pack("=BxHiII", 0, 0, 0, 0, 0), 1)
names = []
for link in links:
    offset = 16
    while offset < len(link):
        size, kind = struct.unpack_from("=HH", link, offset)
        if kind == 3:  # IFLA_IFNAME
            names.append(link[offset + 4 : offset + size].rstrip(b"\0").decode())
        offset += (size + 3) & ~3
print(f"netlink-dump-links: {names}")
create = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
route = struct.pack("=BBBBBBBBI", socket.AF_INET, 0, 0, 0, 254, 3, 0, 1, 0) + attr(4, struct.pack("=i", 1))
report("RTM_NEWROUTE default via lo", request(RTM_NEWROUTE, create, route, 2)[0])
address = struct.pack("=BBBBI", socket.AF_INET, 8, 0, 0, 1) + attr(2, socket.inet_aton("10.9.9.9"))
report("RTM_NEWADDR 10.9.9.9/8 on lo", request(RTM_NEWADDR, create, address, 3)[0])
link = struct.pack("=BxHiII", 0, 0, 0, 0, 0) + attr(3, b"evil0\0") + attr(18, attr(1, b"dummy\0"))
report("RTM_NEWLINK dummy", request(RTM_NEWLINK, create, link, 4)[0])
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    try:
        fcntl.ioctl(s, 0x8914, struct.pack("16sH14x", b"lo", 0))  # SIOCSIFFLAGS, flags 0: down
    except OSError as exc:
        print(f"SIOCSIFFLAGS lo down: DENIED errno={errno.errorcode[exc.errno]}")
    else:
        print("SIOCSIFFLAGS lo down: ALLOWED")
