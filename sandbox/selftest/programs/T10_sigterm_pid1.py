# row: T10
# attack: Signal PID 1 (the runner, same uid): SIGKILL and SIGTERM from inside the namespace are dropped
#   by the kernel for an init without handlers. (Under docker-init, SIGTERM was forwarded and killed the runner.)
#   The status must be a program status, never internal_error.
# expect-status: killed|runtime_error|timeout
# expect-stdout-contains: pid1 alive after SIGKILL: yes
# limits: wall_time_s=3
# xfail-under-runsc: a gap of runsc 2022-12: the program can signal PID 1 (gVisor does not shield init from signals
#   it has no handler for), so SIGTERM ends the runner and the run is capacity_unavailable
import errno
import os
import signal
import time

for sig in (signal.SIGKILL, signal.SIGTERM):
    try:
        os.kill(1, sig)
    except OSError as exc:
        print(f"{sig.name} to pid1: DENIED errno={errno.errorcode[exc.errno]}", flush=True)
    time.sleep(0.2)
    if sig == signal.SIGKILL:  # same uid: permitted, but init ignores it from inside its namespace
        print(f"pid1 alive after SIGKILL: {'yes' if os.path.exists('/proc/1') else 'no'}", flush=True)
time.sleep(30)
