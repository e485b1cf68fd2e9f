# row: E09
# attack: Same channel as E08, different frame: write a runner "X" (could not run the request) frame to
#   /proc/1/fd/1, then sleep past the wall limit. The program must not be able to make the service fail
#   with an internal error (that would count against the engine's health, not the program): expected is a
#   plain timeout.
# expect-status: timeout
# expect-stdout-contains: real output
# limits: wall_time_s=2
# xfail-under-runsc: a gap of runsc 2022-12: the non-dumpable runner's /proc/1/fd/1 opens for the program (gVisor's
#   procfs ignores the dumpable flag), so a forged error frame ends the run as internal_error
import json
import os
import struct
import time

print("real output", flush=True)
time.sleep(0.2)
try:
    fd = os.open("/proc/1/fd/1", os.O_WRONLY)
except OSError as exc:
    print(f"open /proc/1/fd/1: DENIED errno={exc.errno}", flush=True)
else:
    body = json.dumps({"error": "forged by the program"}).encode()
    os.write(fd, struct.pack(">cI", b"X", len(body)) + body)
time.sleep(30)
