# row: B34
# attack: A module handed on as a value loses its name: `[shutil][0].os.system(...)` - the rules follow
#   `shutil.os.system` through imports and attribute chains, but not through a list, a call or a lambda.
# v-on-finding: rule=module.as_value source=ast text='shutil'
# v-off-status: ok
# v-off-stdout-contains: system() reached
# v-off-stdout-contains: uid=65534(nobody) gid=65534(nogroup)
# v-off-stdout-contains: shell /etc/shadow: DENIED
# v-off-stdout-contains: shell rootfs write: DENIED
# v-off-stdout-not-contains: ALLOWED
# v-off-host-path-absent: /tmp/sandbox-escape-B34_module_handed_on
# limits: wall_time_s=5
import shutil

SHELL = (
    "echo 'system() reached'; id; "
    'cat /etc/shadow >/dev/null 2>&1 && echo "shell /etc/shadow: ALLOWED" || echo "shell /etc/shadow: DENIED"; '
    'touch /etc/escaped 2>/dev/null && echo "shell rootfs write: ALLOWED" || echo "shell rootfs write: DENIED"; '
    "touch /tmp/sandbox-escape-B34_module_handed_on"
)

holder = [shutil]
try:
    status = holder[0].os.system(SHELL)
except Exception as exc:
    print(f"system() not reached: {type(exc).__name__}: {exc}")
else:
    print(f"system() exit status {status}")
