# row: F12
# attack: Hunt for another tenant: a victim run holding files named with a token (given to this program
#   on stdin) is live while this runs. Search /tmp, /workspace, /dev/shm, /home, /proc/*/cwd, /proc/*/root,
#   /proc/*/environ and the process list for the token or any foreign process, then try to overwrite what
#   is found. The victim must stay intact (checked by the host).
# expect-status: ok
# expect-stdout-contains: token-found: []
# expect-stdout-contains: foreign-processes: []
# expect-stdout-not-contains: ALLOWED
# hook: victim
# limits: wall_time_s=8
import os
import sys

token = sys.stdin.read().strip()
me, parent = os.getpid(), os.getppid()
found = []
roots = ["/tmp", "/workspace", "/dev/shm", "/home", "/run", "/var/tmp"]
foreign = []
for pid in (p for p in os.listdir("/proc") if p.isdigit()):
    try:
        cmdline = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()
    except OSError:
        continue
    if int(pid) not in (1, me, parent):
        foreign.append(f"{pid}:{cmdline}")
    roots += [f"/proc/{pid}/cwd", f"/proc/{pid}/root/tmp", f"/proc/{pid}/root/workspace"]
    try:
        if token.encode() in open(f"/proc/{pid}/environ", "rb").read():
            found.append(f"/proc/{pid}/environ")
    except OSError:
        pass
for top in roots:
    for root, _, files in os.walk(top):
        for name in files:
            path = os.path.join(root, name)
            if token in name:
                found.append(path)
                try:
                    with open(path, "w") as f:
                        f.write("tampered")
                    print(f"overwrite {path}: ALLOWED")
                except OSError as exc:
                    print(f"overwrite {path}: DENIED {exc}")
print(f"searched {len(roots)} roots")
print(f"token-found: {sorted(set(found))}")
print(f"foreign-processes: {foreign}")
