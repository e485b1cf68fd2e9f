# row: B16
# attack: Native code: `ctypes.CDLL(None).system(b'...')` calls libc's system() directly, below every
#   Python-level hook.
# v-on-finding: rule=import.denied source=ast text='ctypes'
# v-off-status: ok
# v-off-stdout-contains: system() reached
# v-off-stdout-contains: uid=65534(nobody) gid=65534(nogroup)
# v-off-stdout-contains: shell /etc/shadow: DENIED
# v-off-stdout-contains: shell rootfs write: DENIED
# v-off-stdout-not-contains: ALLOWED
# v-off-host-path-absent: /tmp/sandbox-escape-B16
# limits: wall_time_s=5
import ctypes

SHELL = (
    "id; "
    'cat /etc/shadow >/dev/null 2>&1 && echo "shell /etc/shadow: ALLOWED" || echo "shell /etc/shadow: DENIED"; '
    'touch /etc/escaped 2>/dev/null && echo "shell rootfs write: ALLOWED" || echo "shell rootfs write: DENIED"; '
    "touch /tmp/sandbox-escape-B16"
)

try:
    libc_system = ctypes.CDLL(None).system
    system = lambda command: libc_system(command.encode())  # noqa: E731
except Exception as exc:
    print(f"system() not reached: {type(exc).__name__}: {exc}")
else:
    print("system() reached", flush=True)
    print(f"system() exit status {system(SHELL)}")
