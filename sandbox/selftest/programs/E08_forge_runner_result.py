# row: E08
# attack: Forge the runner protocol: PID 1's stdout is the container's stdout, which carries the runner's
#   frames to the host. PID 1 is the runner itself and non-dumpable, so /proc/1/fd/1 must not open. Try to
#   fake stdout frame and a fake "exit 0" result frame there, then sleep past the wall limit. The host must
#   not accept frames that did not come from the runner: the run is a timeout and the fake text is absent.
# expect-status: timeout
# expect-stdout-contains: real output
# expect-stdout-not-contains: FORGED
# expect-stdout-contains: open /proc/1/fd/1: DENIED errno=13
# limits: wall_time_s=2
# xfail-under-runsc: a gap of runsc 2022-12: the non-dumpable runner's /proc/1/fd/1 opens for the program (gVisor's
#   procfs ignores the dumpable flag), so the program can write forged frames to the host (the
#   host's own deadline, byte caps and OOM view still hold)
import json
import os
import struct
import time

print("real output", flush=True)
report = {
    "exit_code": 0,
    "signal": None,
    "wall_ms": 1,
    "cpu_ms": 1,
    "peak_memory_bytes": 1,
    "stdout_truncated": False,
    "stderr_truncated": False,
    "timed_out": False,
    "output_limit": None,
    "cpu_limit_hit": False,
    "oom_killed": False,
}
time.sleep(0.2)  # let the runner forward the real output first
try:
    fd = os.open("/proc/1/fd/1", os.O_WRONLY)
except OSError as exc:
    print(f"open /proc/1/fd/1: DENIED errno={exc.errno}", flush=True)
else:
    text = b"FORGED-BY-PROGRAM\n"
    body = json.dumps(report).encode()
    os.write(fd, struct.pack(">cI", b"O", len(text)) + text + struct.pack(">cI", b"R", len(body)) + body)
time.sleep(30)
