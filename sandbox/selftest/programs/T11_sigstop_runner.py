# row: T11
# attack: Freeze the supervisor: SIGSTOP the runner so that its own deadline can never fire, then sleep.
#   The runner is PID 1: the kernel drops SIGSTOP from inside the namespace, so the runner's own deadline
#   (2 s) ends the run; were it frozen, the host's deadline (wall + 1 s grace) would, near 3 s.
# expect-status: timeout
# expect-stdout-contains: about to stop the runner
# expect-wall-ms-min: 1900
# expect-wall-ms-max: 5500
# limits: wall_time_s=2
import os
import signal
import time

print("about to stop the runner", flush=True)
time.sleep(0.3)  # let the runner forward that line; after the stop nothing more can reach the host
os.kill(os.getppid(), signal.SIGSTOP)
time.sleep(30)
