# row: T09
# attack: Kill the supervisor: the runner (this program's parent) runs with the program's uid. It is the
#   namespace's PID 1, so the kernel drops the SIGKILL; the run must end on the runner's own deadline with a
#   program status, never internal_error ("our failure, not the program's").
# expect-status: killed|runtime_error|timeout
# expect-stdout-contains: about to signal the runner
# limits: wall_time_s=3
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
