# row: F08
# attack: Look for the Docker/containerd API: the well-known socket paths, connect() to them, and walk the
#   whole filesystem (but /proc and /sys) for any Unix socket at all.
# expect-status: ok
# expect-stdout-contains: /var/run/docker.sock: DENIED errno=ENOENT
# expect-stdout-contains: /run/docker.sock: DENIED errno=ENOENT
# expect-stdout-contains: /run/containerd/containerd.sock: DENIED errno=ENOENT
# expect-stdout-contains: /var/run/docker/containerd/containerd.sock: DENIED errno=ENOENT
# expect-stdout-contains: sockets-on-filesystem: []
# expect-stdout-not-contains: ALLOWED
# limits: wall_time_s=30 cpu_time_s=20
import errno
import os
import socket
import stat

for path in (
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/run/containerd/containerd.sock",
    "/var/run/docker/containerd/containerd.sock",
    "/run/docker/containerd/containerd.sock",
):
    with socket.socket(socket.AF_UNIX) as s:
        try:
            s.connect(path)
        except OSError as exc:
            print(f"{path}: DENIED errno={errno.errorcode[exc.errno]}")
        else:
            print(f"{path}: ALLOWED")
found = []
for root, dirs, files in os.walk("/"):
    if root == "/":
        dirs[:] = [d for d in dirs if d not in ("proc", "sys")]
    for name in files + dirs:
        try:
            if stat.S_ISSOCK(os.lstat(os.path.join(root, name)).st_mode):
                found.append(os.path.join(root, name))
        except OSError:
            pass
print(f"sockets-on-filesystem: {found}")
