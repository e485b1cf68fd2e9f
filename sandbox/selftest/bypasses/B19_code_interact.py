# row: B19
# attack: Interactive escape: `code.interact()` runs a Python console on the program's stdin, which the
#   attacker writes: import os and run a shell (id, read /etc/shadow, drop a marker in /tmp). The
#   console ends at stdin EOF, inside the program's own container.
# v-on-finding: rule=import.denied source=ast text='code'
# v-off-stdin-line: import os
# v-off-stdin-line: os.system("id; cat /etc/shadow 2>&1; touch /tmp/sandbox-escape-B19")
# v-off-status: ok
# v-off-stdout-contains: uid=65534(nobody) gid=65534(nogroup)
# v-off-stdout-contains: cat: /etc/shadow: Permission denied
# v-off-stdout-contains: console ended: stdin EOF
# v-off-host-path-absent: /tmp/sandbox-escape-B19
# limits: wall_time_s=5
import code

print("opening a console on stdin", flush=True)
code.interact(banner="console up", local={}, exitmsg="console closed")
print("console ended: stdin EOF")
