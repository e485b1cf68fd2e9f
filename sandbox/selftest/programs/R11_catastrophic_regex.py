# row: R11
# attack: Catastrophic backtracking: re.match(r'(a+)+$', 'a' * 64 + 'b') needs about 2**64 steps inside
#   one C call. Nothing in the program ends it; the host deadline must.
# expect-status: timeout
# expect-stdout-contains: regex started
# expect-stdout-not-contains: REGEX-FINISHED
# expect-wall-ms-max: 6000
# limits: wall_time_s=3 cpu_time_s=30
# canary: overlap
import re

print("regex started", flush=True)
re.match(r"(a+)+$", "a" * 64 + "b")
print("REGEX-FINISHED", flush=True)
