# row: B19
# attack: Interactive escape: `breakpoint()` opens pdb on the program's stdin, which the attacker writes:
#   a `!` command imports os and runs a shell (id, read /etc/shadow, drop a marker in /tmp); then stdin
#   ends, pdb quits on EOF and the program reports how the console ended. The console is the
#   program's own, inside its own container.
# v-on-finding: rule=name.denied source=ast text='breakpoint'
# v-off-stdin-line: !import os; os.system("id; cat /etc/shadow 2>&1; touch /tmp/sandbox-escape-B19")
# v-off-status: ok
# v-off-stdout-contains: (Pdb)
# v-off-stdout-contains: uid=65534(nobody) gid=65534(nogroup)
# v-off-stdout-contains: cat: /etc/shadow: Permission denied
# v-off-stdout-contains: console ended
# v-off-host-path-absent: /tmp/sandbox-escape-B19
# limits: wall_time_s=5
print("opening pdb on stdin", flush=True)
try:
    breakpoint()
    print("after breakpoint")  # pdb stops on this line and reads its commands from stdin
except BaseException as exc:  # bdb.BdbQuit when pdb reads EOF
    print(f"console ended: {type(exc).__name__}")
else:
    print("console ended: continued")
