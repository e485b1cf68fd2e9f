# row: B30
# attack: Deserialisation inside a library the strict allowlist names (numpy): `numpy.load(f,
#   allow_pickle=flag)` with the flag in a variable, of a .npy whose object array is a REDUCE to os.system.
# v-on-policy: strict
# v-on-finding: rule=argument.denied source=ast text=allow_pickle
# v-off-status: ok
# v-off-stdout-contains: system() reached
# v-off-stdout-contains: uid=65534(nobody) gid=65534(nogroup)
# v-off-stdout-contains: shell /etc/shadow: DENIED
# v-off-stdout-contains: shell rootfs write: DENIED
# v-off-stdout-not-contains: ALLOWED
# v-off-host-path-absent: /tmp/sandbox-escape-B30_strict_numpy_load_allow_pickle
# limits: wall_time_s=10
import io

import numpy as np

SHELL = (
    "echo 'system() reached'; id; "
    'cat /etc/shadow >/dev/null 2>&1 && echo "shell /etc/shadow: ALLOWED" || echo "shell /etc/shadow: DENIED"; '
    'touch /etc/escaped 2>/dev/null && echo "shell rootfs write: ALLOWED" || echo "shell rootfs write: DENIED"; '
    "touch /tmp/sandbox-escape-B30_strict_numpy_load_allow_pickle"
)


def npy(pickled: bytes) -> bytes:
    """A version 1.0 .npy file of one object element: the header, then the pickle numpy loads."""
    header = "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + pickled


payload = npy(b"cos\nsystem\n(S'" + SHELL.encode() + b"'\ntR.")
flag = True
try:
    print("numpy.load(allow_pickle=flag) of a REDUCE to os.system", flush=True)
    status = np.load(io.BytesIO(payload), allow_pickle=flag)
except Exception as exc:
    print(f"system() not reached: {type(exc).__name__}: {exc}")
else:
    print(f"numpy.load returned the shell's exit status {status}")
