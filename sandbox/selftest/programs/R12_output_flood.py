# row: R12
# attack: Output flood: print 1000-byte lines forever. The host byte cap (100 000 bytes) must stop it:
#   exactly the cap is returned, stdout is marked truncated and the program is killed.
# expect-status: output_limit_exceeded
# expect-stdout-bytes: 100000
# expect-truncated: stdout
# expect-stdout-regex: \AA{1000}\n
# limits: wall_time_s=5 stdout_bytes=100000
# canary: concurrent
while True:
    print("A" * 1000)
