# row: B34
# attack: Process creation without os or subprocess: the private `uuid._get_command_stdout(cmd, *args)`
#   runs any program on PATH (here `sh -c`) and returns its output.
# v-on-finding: rule=name.qualified_denied source=ast text='uuid._get_command_stdout'
# v-off-status: ok
# v-off-stdout-contains: system() reached
# v-off-stdout-contains: uid=65534(nobody) gid=65534(nogroup)
# v-off-stdout-contains: shell /etc/shadow: DENIED
# v-off-stdout-contains: shell rootfs write: DENIED
# v-off-stdout-not-contains: ALLOWED
# v-off-host-path-absent: /tmp/sandbox-escape-B34_uuid_command_stdout
# limits: wall_time_s=10
import uuid

SHELL = (
    "echo 'system() reached'; id; "
    'cat /etc/shadow >/dev/null 2>&1 && echo "shell /etc/shadow: ALLOWED" || echo "shell /etc/shadow: DENIED"; '
    'touch /etc/escaped 2>/dev/null && echo "shell rootfs write: ALLOWED" || echo "shell rootfs write: DENIED"; '
    "touch /tmp/sandbox-escape-B34_uuid_command_stdout"
)


try:
    output = uuid._get_command_stdout("sh", "-c", SHELL)
except Exception as exc:
    print(f"system() not reached: {type(exc).__name__}: {exc}")
else:
    print(output.read().decode() if output else "system() not reached: no output")
