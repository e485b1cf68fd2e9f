# row: E05
# attack: Look for host filesystems: parse /proc/self/mountinfo. / must be read-only; the only mounts from a
#   host block device may be Docker's own read-only files (docker-init, /etc/hostname, /etc/hosts,
#   /etc/resolv.conf); every directory we can write to must be noexec,nosuid,nodev; no sockets mounted.
#   The flags are checked as far as the kernel reports them at all (gVisor's mountinfo never lists nosuid
#   or nodev, on any mount), and the behaviour in every writable directory: a copied binary does not
#   execute, and a /dev/mem (1:1) or host-disk (8:0) node made there cannot be opened (mknod refused, or
#   ENXIO: no such device behind it).
# expect-status: ok
# expect-stdout-contains: / read-only: yes
# expect-stdout-contains: host-bind-mounts: []
# expect-stdout-contains: writable-exec-or-suid-dirs: []
# expect-stdout-contains: socket-mounts: []
# expect-stdout-regex: ^writable-dirs: .*'/tmp'.*$
# expect-stdout-contains: exec from /tmp: DENIED errno=EACCES
# expect-stdout-contains: exec from /workspace: DENIED errno=EACCES
# expect-stdout-contains: exec from /dev/shm: DENIED errno=EACCES
# expect-stdout-regex: ^device 1:1 in /tmp: DENIED errno=(EPERM \(mknod\)|ENXIO \(open\))$
# expect-stdout-regex: ^device 8:0 in /tmp: DENIED errno=(EPERM \(mknod\)|ENXIO \(open\))$
# expect-stdout-not-contains: ALLOWED
# limits: wall_time_s=5
import errno
import os
import shutil
import stat
import subprocess

ALLOWED_BINDS = {"/usr/sbin/docker-init", "/sbin/docker-init", "/etc/hostname", "/etc/hosts", "/etc/resolv.conf"}
FLAGS = {"noexec", "nosuid", "nodev"}
mounts = []
for line in open("/proc/self/mountinfo"):
    left, right = line.split(" - ")
    fields = left.split()
    fstype, source = right.split()[:2]
    mounts.append((fields[2], fields[3], fields[4], set(fields[5].split(",")), fstype, source))
root = [m for m in mounts if m[2] == "/"][-1]
print(f"/ read-only: {'yes' if 'ro' in root[3] else 'no'} ({root[4]})")
host = [
    f"{target} <- {src_root} ({fstype} {source}) {sorted(opts)}"
    for dev, src_root, target, opts, fstype, source in mounts
    if not dev.startswith("0:") and (target not in ALLOWED_BINDS or "ro" not in opts)
]
print(f"host-bind-mounts: {host}")
# A flag no mount lists is one this kernel does not report (gVisor: nosuid, nodev); runc lists all three.
reported = FLAGS & set().union(*(m[3] for m in mounts))
print(f"flags the kernel reports: {sorted(reported)}")
writable = sorted(
    target
    for _, _, target, opts, _, _ in mounts
    if os.path.isdir(target) and os.access(target, os.W_OK) and "rw" in opts
)
print(f"writable-dirs: {writable}")
risky = [target for _, _, target, opts, _, _ in mounts if target in writable and not reported <= opts]


def exec_from(directory):
    path = os.path.join(directory, "e05-true")
    try:
        shutil.copy("/usr/bin/true", path)
        os.chmod(path, 0o755)
    except OSError as exc:
        return f"DENIED errno={errno.errorcode[exc.errno]} (on create)"
    try:
        subprocess.run([path], check=False)
    except OSError as exc:
        return f"DENIED errno={errno.errorcode[exc.errno]}"
    return "ALLOWED"


def device_in(directory, kind, major, minor):
    path = os.path.join(directory, f"e05-dev-{major}-{minor}")
    try:
        os.mknod(path, kind | 0o600, os.makedev(major, minor))
    except OSError as exc:
        return f"DENIED errno={errno.errorcode[exc.errno]} (mknod)"
    try:
        os.close(os.open(path, os.O_RDONLY))
    except OSError as exc:
        return f"DENIED errno={errno.errorcode[exc.errno]} (open)"
    return "ALLOWED"


for directory in writable:
    verdicts = {
        f"exec from {directory}": exec_from(directory),
        f"device 1:1 in {directory}": device_in(directory, stat.S_IFCHR, 1, 1),
        f"device 8:0 in {directory}": device_in(directory, stat.S_IFBLK, 8, 0),
    }
    for label, verdict in verdicts.items():
        print(f"{label}: {verdict}")
    if any(v == "ALLOWED" for v in verdicts.values()) and directory not in risky:
        risky.append(directory)
print(f"writable-exec-or-suid-dirs: {risky}")
print(f"socket-mounts: {[m[2] for m in mounts if 'sock' in m[2] or 'sock' in m[1]]}")
