# row: F10
# attack: Raw devices: open the host disk (/dev/sda, /dev/vda, /dev/nvme0n1), /dev/mem, /dev/kmem, /dev/port,
#   /dev/kmsg; mknod a block device for the host disk and a /dev/mem character device; list /dev for any
#   block device or unexpected character device. mknod is refused (EPERM), or under a kernel that allows
#   it (gVisor's Sentry makes the node in its own tmpfs) the node must not open (ENXIO: no device behind
#   it). Under gVisor (its kernel log, readable there, starts with "Starting gVisor...") /dev also holds the
#   Sentry's own fuse and net/tun, which reach no host device; under any other kernel they are unexpected.
# expect-status: ok
# expect-stdout-contains: open /dev/sda: DENIED errno=ENOENT
# expect-stdout-contains: open /dev/vda: DENIED errno=ENOENT
# expect-stdout-contains: open /dev/mem: DENIED errno=ENOENT
# expect-stdout-contains: open /dev/kmsg: DENIED errno=ENOENT
# expect-stdout-regex: ^mknod block 8:0: DENIED errno=(EPERM|ENXIO \(on open\))$
# expect-stdout-regex: ^mknod block 254:0: DENIED errno=(EPERM|ENXIO \(on open\))$
# expect-stdout-regex: ^mknod char 1:1: DENIED errno=(EPERM|ENXIO \(on open\))$
# expect-stdout-contains: unexpected-devices: []
# expect-stdout-not-contains: ALLOWED
# limits: wall_time_s=5
import ctypes
import errno
import os
import stat

buf = ctypes.create_string_buffer(256)
read = ctypes.CDLL(None).syscall(ctypes.c_long(103), ctypes.c_long(3), buf, ctypes.c_long(256))  # syslog READ_ALL
sentry = read > 0 and b"] Starting gVisor..." in buf.raw.split(b"\n", 1)[0]
print(f"kernel: {'gVisor Sentry' if sentry else 'host'}")

for path in ("/dev/sda", "/dev/vda", "/dev/nvme0n1", "/dev/mem", "/dev/kmem", "/dev/port", "/dev/kmsg"):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        print(f"open {path}: DENIED errno={errno.errorcode[exc.errno]}")
    else:
        os.close(fd)
        print(f"open {path}: ALLOWED")
for kind, mode, major, minor in (
    ("block", stat.S_IFBLK, 8, 0),
    ("block", stat.S_IFBLK, 254, 0),
    ("char", stat.S_IFCHR, 1, 1),
):
    try:
        os.mknod(f"/tmp/dev-{major}-{minor}", mode | 0o600, os.makedev(major, minor))
    except OSError as exc:
        print(f"mknod {kind} {major}:{minor}: DENIED errno={errno.errorcode[exc.errno]}")
    else:
        try:
            os.close(os.open(f"/tmp/dev-{major}-{minor}", os.O_RDONLY))
        except OSError as exc:
            print(f"mknod {kind} {major}:{minor}: DENIED errno={errno.errorcode[exc.errno]} (on open)")
        else:
            print(f"mknod {kind} {major}:{minor}: ALLOWED")
expected = {"null", "zero", "full", "random", "urandom", "tty", "ptmx", "console", "pts/ptmx"}
if sentry:
    expected |= {"fuse", "net/tun"}  # the Sentry's own devices
unexpected = []
for root, _, files in os.walk("/dev"):
    for name in files:
        path = os.path.join(root, name)
        mode = os.lstat(path).st_mode
        rel = os.path.relpath(path, "/dev")
        if stat.S_ISBLK(mode) or (stat.S_ISCHR(mode) and rel not in expected and not rel.startswith("pts/")):
            unexpected.append(rel)
print(f"unexpected-devices: {unexpected}")
