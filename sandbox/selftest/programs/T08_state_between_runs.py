# row: T08
# attack: Leave state for the next run: look for a previous run's marker in /tmp, /workspace and /dev/shm,
#   then write one there. Run twice through a warm pool; the second run must find nothing.
# expect-status: ok
# expect-stdout-contains: previous-state: none
# expect-stdout-not-contains: FOUND
# hook: twice
# limits: wall_time_s=5
import os

found = [d for d in ("/tmp", "/workspace", "/dev/shm") if os.path.exists(f"{d}/state-from-earlier-run")]
for d in found:
    print(f"FOUND {d}/state-from-earlier-run: {open(f'{d}/state-from-earlier-run').read()}")
print(f"previous-state: {found or 'none'}")
for d in ("/tmp", "/workspace", "/dev/shm"):
    with open(f"{d}/state-from-earlier-run", "w") as f:
        f.write(f"pid {os.getpid()}")
print("WROTE")
