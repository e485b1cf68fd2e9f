# row: R11
# attack: A C-level infinite loop that never returns to the bytecode loop, so Python signal handlers never
#   run: collections.deque(itertools.count(), maxlen=0). An in-process timer (SIGALRM after 1 s whose handler
#   raises) cannot stop it (CPython 3.11's regex engine does check signals, this loop does not); only the
#   host deadline can.
# expect-status: timeout
# expect-stdout-contains: spin started
# expect-stdout-not-contains: ALARM
# expect-stdout-not-contains: SPIN-FINISHED
# expect-wall-ms-max: 6000
# limits: wall_time_s=3 cpu_time_s=30
# canary: overlap
import collections
import itertools
import signal


def on_alarm(*_):
    print("ALARM: the in-process timer interrupted the C loop", flush=True)
    raise TimeoutError


signal.signal(signal.SIGALRM, on_alarm)
signal.alarm(1)
print("spin started", flush=True)
try:
    collections.deque(itertools.count(), maxlen=0)
    print("SPIN-FINISHED", flush=True)
except TimeoutError:
    pass
