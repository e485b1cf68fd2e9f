# row: B14
# attack: Names built from `chr()` chains: `getattr(os, ''.join(map(chr, (115, 121, ...))))` reads
#   os.system with no string naming it anywhere in the source (importing os itself is allowed).
# v-on-finding: rule=attribute.dynamic source=ast text=getattr()
# v-off-status: ok
# v-off-stdout-contains: system() reached
# v-off-stdout-contains: uid=65534(nobody) gid=65534(nogroup)
# v-off-stdout-contains: shell /etc/shadow: DENIED
# v-off-stdout-contains: shell rootfs write: DENIED
# v-off-stdout-not-contains: ALLOWED
# v-off-host-path-absent: /tmp/sandbox-escape-B14
# limits: wall_time_s=5
import os

SHELL = (
    "id; "
    'cat /etc/shadow >/dev/null 2>&1 && echo "shell /etc/shadow: ALLOWED" || echo "shell /etc/shadow: DENIED"; '
    'touch /etc/escaped 2>/dev/null && echo "shell rootfs write: ALLOWED" || echo "shell rootfs write: DENIED"; '
    "touch /tmp/sandbox-escape-B14"
)

try:
    system = getattr(os, "".join(map(chr, (115, 121, 115, 116, 101, 109))))
except Exception as exc:
    print(f"system() not reached: {type(exc).__name__}: {exc}")
else:
    print("system() reached", flush=True)
    print(f"system() exit status {system(SHELL)}")
