# row: R03
# attack: Memory bomb: hold 80 MiB (below the 128 MiB limit) for a while so the container sits near
#   its limit, then keep appending 16 MiB bytearrays. The memory cgroup must OOM-kill it (no swap).
# expect-status: memory_exceeded
# expect-signal: 9
# expect-stdout-contains: holding 80 MiB
# expect-stdout-not-contains: ALLOWED
# limits: wall_time_s=10 memory_mb=128
# canary: overlap
import time

hold = [bytearray(16 << 20) for _ in range(5)]
print("holding 80 MiB", flush=True)
time.sleep(4)
for _ in range(64):  # 1 GiB in total: far past the limit
    hold.append(bytearray(16 << 20))
print(f"ALLOWED: allocated {16 * len(hold)} MiB", flush=True)
