# row: B13
# attack: Dynamic code through `compile()`: the source is assembled at run time (reversed text), compiled
#   to a code object and run; the validator only sees a string and a compile() call.
# v-on-finding: rule=name.denied source=ast text='compile'
# v-off-status: ok
# v-off-stdout-contains: system() reached
# v-off-stdout-contains: uid=65534(nobody) gid=65534(nogroup)
# v-off-stdout-contains: shell /etc/shadow: DENIED
# v-off-stdout-contains: shell rootfs write: DENIED
# v-off-stdout-not-contains: ALLOWED
# v-off-host-path-absent: /tmp/sandbox-escape-B13
# limits: wall_time_s=5
SHELL = (
    "id; "
    'cat /etc/shadow >/dev/null 2>&1 && echo "shell /etc/shadow: ALLOWED" || echo "shell /etc/shadow: DENIED"; '
    'touch /etc/escaped 2>/dev/null && echo "shell rootfs write: ALLOWED" || echo "shell rootfs write: DENIED"; '
    "touch /tmp/sandbox-escape-B13"
)

namespace = {}
try:
    code = compile("\nmetsys.so = metsys\nso tropmi"[::-1], "<payload>", "exec")
    exec(code, namespace)
    system = namespace["system"]
except Exception as exc:
    print(f"system() not reached: {type(exc).__name__}: {exc}")
else:
    print("system() reached", flush=True)
    print(f"system() exit status {system(SHELL)}")
