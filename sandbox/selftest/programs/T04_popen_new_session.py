# row: T04
# attack: subprocess.Popen(['sleep', '999.<token>'], start_new_session=True), then exit 0 while the child
#   lives on. The host checks the child is visible during the run and gone (with its container) after it.
# expect-status: ok
# expect-stdout-contains: DAEMON-UP
# expect-stdout-contains: daemon-own-session: yes
# hook: host-process
# limits: wall_time_s=5
import os
import subprocess
import sys
import time

token = sys.stdin.read().strip()
child = subprocess.Popen(["sleep", f"999.{token}"], start_new_session=True)
time.sleep(0.2)
print(f"daemon-own-session: {'yes' if os.getsid(child.pid) != os.getsid(0) else 'no'}")
print(f"DAEMON-UP pid={child.pid}", flush=True)
time.sleep(1.5)  # the host looks for the child now; then exit without waiting for it
os._exit(0)
