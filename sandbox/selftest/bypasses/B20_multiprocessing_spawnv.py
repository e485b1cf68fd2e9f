# row: B20
# attack: Process creation without subprocess: `multiprocessing.util.spawnv_passfds('/bin/sh', argv, ())`
#   fork+execs any binary through _posixsubprocess, which the policy denies only by name.
# v-on-finding: rule=attribute.denied source=ast text='spawnv_passfds'
# v-off-status: ok
# v-off-stdout-contains: system() reached
# v-off-stdout-contains: uid=65534(nobody) gid=65534(nogroup)
# v-off-stdout-contains: shell /etc/shadow: DENIED
# v-off-stdout-contains: shell rootfs write: DENIED
# v-off-stdout-not-contains: ALLOWED
# v-off-host-path-absent: /tmp/sandbox-escape-B20
# limits: wall_time_s=5
import multiprocessing.util
import os

SHELL = (
    "id; "
    'cat /etc/shadow >/dev/null 2>&1 && echo "shell /etc/shadow: ALLOWED" || echo "shell /etc/shadow: DENIED"; '
    'touch /etc/escaped 2>/dev/null && echo "shell rootfs write: ALLOWED" || echo "shell rootfs write: DENIED"; '
    "touch /tmp/sandbox-escape-B20"
)


def spawn_shell(command):
    pid = multiprocessing.util.spawnv_passfds(b"/bin/sh", [b"sh", b"-c", command.encode()], ())
    return os.waitpid(pid, 0)[1]


try:
    system = spawn_shell
except Exception as exc:
    print(f"system() not reached: {type(exc).__name__}: {exc}")
else:
    print("system() reached", flush=True)
    print(f"system() exit status {system(SHELL)}")
