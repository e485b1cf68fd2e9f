# row: E05
# attack: Look for host filesystems: parse /proc/self/mountinfo. / must be read-only; the only mounts from a
#   host block device may be Docker's own read-only files (docker-init, /etc/hostname, /etc/hosts,
#   /etc/resolv.conf); every directory we can write to must be noexec,nosuid,nodev; no sockets mounted.
# expect-status: ok
# expect-stdout-contains: / read-only: yes
# expect-stdout-contains: host-bind-mounts: []
# expect-stdout-contains: writable-exec-or-suid-dirs: []
# expect-stdout-contains: socket-mounts: []
# limits: wall_time_s=5
# xfail-under-runsc: gVisor differs, not a gap: gVisor's mountinfo does not list noexec/nosuid on the tmpfs mounts,
#   so the row cannot see them (F04 shows exec from /tmp is still refused)
import os

ALLOWED_BINDS = {"/usr/sbin/docker-init", "/sbin/docker-init", "/etc/hostname", "/etc/hosts", "/etc/resolv.conf"}
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
risky = [
    target
    for _, _, target, opts, _, _ in mounts
    if os.path.isdir(target)
    and os.access(target, os.W_OK)
    and "rw" in opts
    and not {"noexec", "nosuid", "nodev"} <= opts
]
print(f"writable-exec-or-suid-dirs: {risky}")
print(f"socket-mounts: {[m[2] for m in mounts if 'sock' in m[2] or 'sock' in m[1]]}")
