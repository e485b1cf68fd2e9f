# row: B13
# attack: Dynamic code hidden as data: `exec(codecs.decode(<rot13 text>, 'rot13'))`; the decoded text
#   imports os, which the validator cannot see because it is a string.
# v-on-finding: rule=name.denied source=ast text='exec'
# v-off-status: ok
# v-off-stdout-contains: system() reached
# v-off-stdout-contains: uid=65534(nobody) gid=65534(nogroup)
# v-off-stdout-contains: shell /etc/shadow: DENIED
# v-off-stdout-contains: shell rootfs write: DENIED
# v-off-stdout-not-contains: ALLOWED
# v-off-host-path-absent: /tmp/sandbox-escape-B13
# limits: wall_time_s=5
import codecs

SHELL = (
    "id; "
    'cat /etc/shadow >/dev/null 2>&1 && echo "shell /etc/shadow: ALLOWED" || echo "shell /etc/shadow: DENIED"; '
    'touch /etc/escaped 2>/dev/null && echo "shell rootfs write: ALLOWED" || echo "shell rootfs write: DENIED"; '
    "touch /tmp/sandbox-escape-B13"
)

namespace = {}
try:
    exec(codecs.decode("vzcbeg bf\nflfgrz = bf.flfgrz\n", "rot13"), namespace)
    system = namespace["system"]
except Exception as exc:
    print(f"system() not reached: {type(exc).__name__}: {exc}")
else:
    print("system() reached", flush=True)
    print(f"system() exit status {system(SHELL)}")
