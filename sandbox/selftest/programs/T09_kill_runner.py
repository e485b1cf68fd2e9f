# row: T09
# attack: Kill the supervisor: the runner (this program's parent) runs with the program's uid. It is the
#   namespace's PID 1, so the kernel drops the SIGKILL; the run must end on the runner's own deadline with a
#   program status, never internal_error ("our failure, not the program's").
# expect-status: killed|runtime_error|timeout
# expect-stdout-contains: about to signal the runner
# limits: wall_time_s=3
# xfail-under-runsc: a gap of runsc 2022-12: the program can signal PID 1 (gVisor does not shield init from signals
#   it has no handler for), so killing the runner ends the run as capacity_unavailable and counts
#   against the circuit breaker
import errno
import os
import signal
import time

print("about to signal the runner", flush=True)
time.sleep(0.2)  # let the runner forward that line first
try:
    os.kill(os.getppid(), signal.SIGKILL)
except OSError as exc:
    print(f"kill runner: DENIED errno={errno.errorcode[exc.errno]}", flush=True)
time.sleep(30)
