# row: T02
# attack: Ignore SIGTERM, SIGINT and SIGHUP (checked by sending itself SIGTERM), then sleep for an hour.
#   Only a SIGKILL from the deadline can end it, so a TERM-then-wait kill would hang here.
# expect-status: timeout
# expect-stdout-contains: SIGTERM ignored
# expect-wall-ms-max: 4500
# limits: wall_time_s=2
import os
import signal
import time

for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(sig, signal.SIG_IGN)
os.kill(os.getpid(), signal.SIGTERM)
print("SIGTERM ignored", flush=True)
time.sleep(3600)
