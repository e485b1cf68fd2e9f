# row: T07
# attack: Slow drip: one byte every 0.3 s forever, so the run is never idle. The deadline is on wall-clock
#   time, not on idleness: it must end the run at the limit, keeping what was dripped.
# expect-status: timeout
# expect-stdout-regex: \A\.{5,}\Z
# expect-wall-ms-max: 5500
# limits: wall_time_s=3
import sys
import time

while True:
    sys.stdout.write(".")
    sys.stdout.flush()
    time.sleep(0.3)
