# row: R13
# attack: One huge line: a single 96 MiB write with no newline. The cap is on bytes, not lines: exactly
#   1 MiB comes back, stdout is marked truncated, and the program is killed.
# expect-status: output_limit_exceeded
# expect-stdout-bytes: 1048576
# expect-truncated: stdout
# expect-stdout-not-contains: B
# limits: wall_time_s=5 stdout_bytes=1048576 memory_mb=256
# canary: concurrent
import sys

sys.stdout.buffer.write(b"A" * (96 << 20))
sys.stdout.buffer.flush()
sys.stdout.buffer.write(b"B")
