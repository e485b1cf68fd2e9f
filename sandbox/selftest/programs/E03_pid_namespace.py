# row: E03
# attack: Look for the host's processes: list /proc, read every cmdline and status. A private PID namespace
#   shows only the runner as PID 1 and this program (and its own children), all as uid 65534. NSpid (the
#   PID in each nested namespace) must have one level; gVisor's /proc/self/status has no NSpid line (ABSENT),
#   where the PID view above is what holds.
# expect-status: ok
# expect-stdout-regex: ^pid1: python3 -I -S -B -c import sys; .*import sandbox_runner; .*$
# expect-stdout-contains: few-pids: yes
# expect-stdout-contains: foreign-processes: []
# expect-stdout-contains: non-sandbox-uids: []
# expect-stdout-regex: ^NSpid of self: (one level \[.*\]|ABSENT)$
# limits: wall_time_s=5
import os

me, runner = os.getpid(), os.getppid()
pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
cmdlines = {p: open(f"/proc/{p}/cmdline", "rb").read().replace(b"\0", b" ").decode().strip() for p in pids}
print(f"pids={pids}")
print(f"pid1: {cmdlines[1]}")
print(f"few-pids: {'yes' if len(pids) < 10 else 'no'}")
print(f"foreign-processes: {[f'{p}:{c}' for p, c in cmdlines.items() if p not in (1, me, runner)]}")
uids = {}
for p in pids:
    for line in open(f"/proc/{p}/status"):
        if line.startswith("Uid:"):
            uids[p] = line.split()[1:]
print(f"non-sandbox-uids: {[p for p, ids in uids.items() if set(ids) != {'65534'}]}")
nspid = [line.split()[1:] for line in open("/proc/self/status") if line.startswith("NSpid")]
if not nspid:
    print("NSpid of self: ABSENT")
else:
    print(f"NSpid of self: {'one level' if len(nspid[0]) == 1 else 'NESTED'} {nspid[0]}")
