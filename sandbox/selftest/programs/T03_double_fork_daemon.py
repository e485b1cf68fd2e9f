# row: T03
# attack: Classic daemon: double fork, setsid, ignore SIGTERM/SIGHUP, then exec `sleep 999.<token>` (token
#   from stdin, so the host can find it). The parent exits 0 once the daemon runs. The host checks the
#   daemon is visible while the run is on and that no such process (and no container) remains after it.
# expect-status: ok
# expect-stdout-contains: DAEMON-UP
# expect-stdout-contains: daemon-own-session: yes
# hook: host-process
# limits: wall_time_s=5
import os
import signal
import sys
import time

token = sys.stdin.read().strip()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)
        os.execv("/bin/sleep", ["sleep", f"999.{token}"])
    os._exit(0)
os.wait()


def find_daemon():
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and token.encode() in open(f"/proc/{entry}/cmdline", "rb").read():
                return int(entry)
        except OSError:
            pass
    return None


for _ in range(200):
    pid = find_daemon()
    if pid:
        break
    time.sleep(0.01)
print(f"daemon-own-session: {'yes' if os.getsid(pid) != os.getsid(0) else 'no'}")
print(f"DAEMON-UP pid={pid}", flush=True)
time.sleep(1.5)  # the daemon is orphaned long before this; the delay lets the host see it
