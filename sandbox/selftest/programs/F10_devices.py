# row: F10
# attack: Raw devices: open the host disk (/dev/sda, /dev/vda, /dev/nvme0n1), /dev/mem, /dev/kmem, /dev/port,
#   /dev/kmsg; mknod a block device for the host disk and a /dev/mem character device; list /dev for any
#   block device or unexpected character device.
# expect-status: ok
# expect-stdout-contains: open /dev/sda: DENIED errno=ENOENT
# expect-stdout-contains: open /dev/vda: DENIED errno=ENOENT
# expect-stdout-contains: open /dev/mem: DENIED errno=ENOENT
# expect-stdout-contains: open /dev/kmsg: DENIED errno=ENOENT
# expect-stdout-contains: mknod block 8:0: DENIED errno=EPERM
# expect-stdout-contains: mknod block 254:0: DENIED errno=EPERM
# expect-stdout-contains: mknod char 1:1: DENIED errno=EPERM
# expect-stdout-contains: unexpected-devices: []
# expect-stdout-not-contains: ALLOWED
# limits: wall_time_s=5
# xfail-under-runsc: gVisor differs, not a gap: mknod is allowed and makes nodes in gVisor's own tmpfs, which reach
#   no host device; /dev has fuse and net/tun, served by the Sentry
import errno
import os
import stat

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
        print(f"mknod {kind} {major}:{minor}: ALLOWED")
expected = {"null", "zero", "full", "random", "urandom", "tty", "ptmx", "console", "pts/ptmx"}
unexpected = []
for root, _, files in os.walk("/dev"):
    for name in files:
        path = os.path.join(root, name)
        mode = os.lstat(path).st_mode
        rel = os.path.relpath(path, "/dev")
        if stat.S_ISBLK(mode) or (stat.S_ISCHR(mode) and rel not in expected and not rel.startswith("pts/")):
            unexpected.append(rel)
print(f"unexpected-devices: {unexpected}")
