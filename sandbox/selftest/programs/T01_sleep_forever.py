# row: T01
# attack: Sleep for an hour. The wall-clock deadline must end it close to the limit.
# expect-status: timeout
# expect-stdout-contains: sleeping
# expect-wall-ms-max: 4500
# limits: wall_time_s=2
import time

print("sleeping", flush=True)
time.sleep(3600)
print("WOKE UP", flush=True)
