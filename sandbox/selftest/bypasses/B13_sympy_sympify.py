# row: B13
# attack: Dynamic code through an allowed maths library: sympy's `sympify` hands a string to `parse_expr`,
#   which runs it with `eval()` and the builtins, so `__import__` is one string away.
# v-on-finding: rule=name.qualified_denied source=ast text='sympy.sympify'
# v-off-status: ok
# v-off-stdout-contains: system() reached
# v-off-stdout-contains: uid=65534(nobody) gid=65534(nogroup)
# v-off-stdout-contains: shell /etc/shadow: DENIED
# v-off-stdout-contains: shell rootfs write: DENIED
# v-off-stdout-not-contains: ALLOWED
# v-off-host-path-absent: /tmp/sandbox-escape-B13_sympy_sympify
# limits: wall_time_s=10
import sympy

SHELL = (
    "echo 'system() reached'; id; "
    'cat /etc/shadow >/dev/null 2>&1 && echo "shell /etc/shadow: ALLOWED" || echo "shell /etc/shadow: DENIED"; '
    'touch /etc/escaped 2>/dev/null && echo "shell rootfs write: ALLOWED" || echo "shell rootfs write: DENIED"; '
    "touch /tmp/sandbox-escape-B13_sympy_sympify"
)

source = "".join(reversed(")'so'(__tropmi__")) + ".system(" + repr(SHELL) + ")"
try:
    print(f"sympify() returned {sympy.sympify(source)!r}", flush=True)
except Exception as exc:
    print(f"system() not reached: {type(exc).__name__}: {exc}")
