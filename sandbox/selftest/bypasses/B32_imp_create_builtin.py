# row: B32
# attack: Import machinery without importlib: the private `_imp.create_builtin()` loads the built-in
#   `posix` module from a spec-like object; `posix.system` is os.system without naming os.
# v-on-finding: rule=import.denied source=ast text='_imp'
# v-off-status: ok
# v-off-stdout-contains: system() reached
# v-off-stdout-contains: uid=65534(nobody) gid=65534(nogroup)
# v-off-stdout-contains: shell /etc/shadow: DENIED
# v-off-stdout-contains: shell rootfs write: DENIED
# v-off-stdout-not-contains: ALLOWED
# v-off-host-path-absent: /tmp/sandbox-escape-B32_imp_create_builtin
# limits: wall_time_s=10
import _imp

SHELL = (
    "echo 'system() reached'; id; "
    'cat /etc/shadow >/dev/null 2>&1 && echo "shell /etc/shadow: ALLOWED" || echo "shell /etc/shadow: DENIED"; '
    'touch /etc/escaped 2>/dev/null && echo "shell rootfs write: ALLOWED" || echo "shell rootfs write: DENIED"; '
    "touch /tmp/sandbox-escape-B32_imp_create_builtin"
)


class Spec:
    name = "posix"


try:
    posix = _imp.create_builtin(Spec())
    system = posix.system
except Exception as exc:
    print(f"system() not reached: {type(exc).__name__}: {exc}")
else:
    print(f"_imp.create_builtin() loaded {posix!r}", flush=True)
    print(f"system() exit status {system(SHELL)}")
