# row: B17
# attack: Code as data: a marshalled code object (hex below, CPython 3.11) of a function that imports os
#   is loaded with `marshal.loads` and made callable with `types.FunctionType`; its body is invisible
#   to the validator.
# v-on-finding: rule=import.denied source=ast text='marshal'
# v-on-finding: rule=name.qualified_denied source=ast text='types.FunctionType'
# v-off-status: ok
# v-off-stdout-contains: system() reached
# v-off-stdout-contains: uid=65534(nobody) gid=65534(nogroup)
# v-off-stdout-contains: shell /etc/shadow: DENIED
# v-off-stdout-contains: shell rootfs write: DENIED
# v-off-stdout-not-contains: ALLOWED
# v-off-host-path-absent: /tmp/sandbox-escape-B17
# limits: wall_time_s=5
import marshal
import types

SHELL = (
    "id; "
    'cat /etc/shadow >/dev/null 2>&1 && echo "shell /etc/shadow: ALLOWED" || echo "shell /etc/shadow: DENIED"; '
    'touch /etc/escaped 2>/dev/null && echo "shell rootfs write: ALLOWED" || echo "shell rootfs write: DENIED"; '
    "touch /tmp/sandbox-escape-B17"
)

BLOB = (
    "e30000000000000000000000000200000003000000f3180000009700640164006c007d007c006a01000000000000000053002902"
    "4ee9000000002902da026f73da0673797374656d29017203000000730100000020fa083c737472696e673eda077061796c6f6164"
    "72060000000300000073130000008000d8040d804980498049d80b0d8c39d00414f300000000"
)
try:
    code = marshal.loads(bytes.fromhex(BLOB))
    system = types.FunctionType(code, {})()
except Exception as exc:
    print(f"system() not reached: {type(exc).__name__}: {exc}")
else:
    print("system() reached", flush=True)
    print(f"system() exit status {system(SHELL)}")
