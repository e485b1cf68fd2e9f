# row: R04
# attack: Single absurd allocations: bytearray(10**12) (1 TB) and ' ' * 10**11 (100 GB). They must fail
#   cleanly with MemoryError inside the program (the allocation is refused, nothing is touched), and the
#   program keeps running afterwards.
# expect-status: ok|memory_exceeded
# expect-stdout-contains: bytearray(10**12): DENIED MemoryError
# expect-stdout-contains: ' ' * 10**11: DENIED MemoryError
# expect-stdout-not-contains: ALLOWED
# limits: wall_time_s=8 memory_mb=256
# canary: overlap
# xfail-under-runsc: gVisor differs, not a gap: a 1 TB bytearray is not refused with MemoryError: gVisor maps it and
#   the container meets its memory limit (memory_exceeded)
import time

attempts = (
    ("bytearray(10**12)", lambda: bytearray(10**12)),
    ("' ' * 10**11", lambda: " " * 10**11),
)
for name, allocate in attempts:
    try:
        block = allocate()
    except MemoryError:
        print(f"{name}: DENIED MemoryError", flush=True)
    else:
        print(f"{name}: ALLOWED len={len(block)}", flush=True)
        del block
time.sleep(4)
