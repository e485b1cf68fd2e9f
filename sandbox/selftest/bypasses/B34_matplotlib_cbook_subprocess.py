# row: B34
# attack: Process creation inside an allowed library: `matplotlib.cbook._check_and_log_subprocess`
#   runs any argv and returns its output.
# v-on-finding: rule=attribute.denied source=ast text='_check_and_log_subprocess'
# v-off-status: ok
# v-off-stdout-contains: system() reached
# v-off-stdout-contains: uid=65534(nobody) gid=65534(nogroup)
# v-off-stdout-contains: shell /etc/shadow: DENIED
# v-off-stdout-contains: shell rootfs write: DENIED
# v-off-stdout-not-contains: ALLOWED
# v-off-host-path-absent: /tmp/sandbox-escape-B34_matplotlib_cbook_subprocess
# limits: wall_time_s=10
import logging

import matplotlib.cbook

SHELL = (
    "echo 'system() reached'; id; "
    'cat /etc/shadow >/dev/null 2>&1 && echo "shell /etc/shadow: ALLOWED" || echo "shell /etc/shadow: DENIED"; '
    'touch /etc/escaped 2>/dev/null && echo "shell rootfs write: ALLOWED" || echo "shell rootfs write: DENIED"; '
    "touch /tmp/sandbox-escape-B34_matplotlib_cbook_subprocess"
)


try:
    output = matplotlib.cbook._check_and_log_subprocess(["sh", "-c", SHELL], logging.getLogger("b34"))
except Exception as exc:
    print(f"system() not reached: {type(exc).__name__}: {exc}")
else:
    print(output.decode())
