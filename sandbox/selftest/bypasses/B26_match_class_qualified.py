# row: B26
# attack: A denied qualified name read through a `match` class pattern: `match os: case object(system=f)`.
# v-on-finding: rule=attribute.detached source=ast text='system'
# v-off-status: ok
# v-off-stdout-contains: system() reached
# v-off-stdout-contains: uid=65534(nobody) gid=65534(nogroup)
# v-off-stdout-contains: shell /etc/shadow: DENIED
# v-off-stdout-contains: shell rootfs write: DENIED
# v-off-stdout-not-contains: ALLOWED
# v-off-host-path-absent: /tmp/sandbox-escape-B26
# limits: wall_time_s=5
import os

SHELL = (
    "id; "
    'cat /etc/shadow >/dev/null 2>&1 && echo "shell /etc/shadow: ALLOWED" || echo "shell /etc/shadow: DENIED"; '
    'touch /etc/escaped 2>/dev/null && echo "shell rootfs write: ALLOWED" || echo "shell rootfs write: DENIED"; '
    "touch /tmp/sandbox-escape-B26"
)

system = None
try:
    match os:
        case object(system=found):
            system = found
except Exception as exc:
    print(f"system() not reached: {type(exc).__name__}: {exc}")
if system is None:
    print("system() not reached")
else:
    print("system() reached", flush=True)
    print(f"system() exit status {system(SHELL)}")
