# row: P02
# attack: Find a way up through the image: scan the root filesystem (but /proc and /sys) for setuid/setgid
#   files and file capabilities, and try su, sudo, mount and ping. Nothing may be privileged, and each tool
#   must be missing or fail without changing who we are.
# expect-status: ok
# expect-stdout-contains: setuid-setgid-files: []
# expect-stdout-contains: file-capabilities: []
# expect-stdout-regex: ^su: (absent|failed rc=\d+)$
# expect-stdout-regex: ^sudo: (absent|failed rc=\d+)$
# expect-stdout-regex: ^mount: (absent|failed rc=\d+)$
# expect-stdout-regex: ^ping: (absent|failed rc=\d+)$
# expect-stdout-contains: uid after: 65534
# expect-stdout-not-contains: ALLOWED
# limits: wall_time_s=30 cpu_time_s=20
import os
import shutil
import stat
import subprocess

privileged, capable = [], []
for root, dirs, files in os.walk("/"):
    if root == "/":
        dirs[:] = [d for d in dirs if d not in ("proc", "sys")]
    for name in files:
        path = os.path.join(root, name)
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_mode & 0o6000:
            privileged.append(f"{path} {oct(st.st_mode)}")
        if stat.S_ISREG(st.st_mode) and st.st_mode & 0o111:
            try:
                os.getxattr(path, "security.capability", follow_symlinks=False)
                capable.append(path)
            except OSError:
                pass
print(f"setuid-setgid-files: {privileged}")
print(f"file-capabilities: {capable}")
commands = {
    "su": ["su", "-c", "id -u", "root"],
    "sudo": ["sudo", "-n", "id", "-u"],
    "mount": ["mount", "-t", "tmpfs", "none", "/tmp"],
    "ping": ["ping", "-c", "1", "-W", "1", "127.0.0.1"],
}
for name, argv in commands.items():
    if shutil.which(name) is None:
        print(f"{name}: absent")
        continue
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=5)
    if done.returncode == 0:
        print(f"{name}: ALLOWED {done.stdout.strip()!r}")
    else:
        print(f"{name}: failed rc={done.returncode}")
        print(f"  {done.stderr.strip()[:200]}")
print(f"uid after: {os.getuid()}")
