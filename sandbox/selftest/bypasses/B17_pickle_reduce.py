# row: B17
# attack: Deserialisation runs code: `pickle.loads(b"cos\nsystem\n(S'...'\ntR.")` is a protocol-0 pickle
#   whose REDUCE calls os.system with the shell command while loading.
# v-on-finding: rule=import.denied source=ast text='pickle'
# v-on-finding: rule=B301 source=bandit
# v-off-status: ok
# v-off-stdout-contains: system() reached
# v-off-stdout-contains: uid=65534(nobody) gid=65534(nogroup)
# v-off-stdout-contains: shell /etc/shadow: DENIED
# v-off-stdout-contains: shell rootfs write: DENIED
# v-off-stdout-not-contains: ALLOWED
# v-off-host-path-absent: /tmp/sandbox-escape-B17
# limits: wall_time_s=5
import pickle

SHELL = (
    "id; "
    'cat /etc/shadow >/dev/null 2>&1 && echo "shell /etc/shadow: ALLOWED" || echo "shell /etc/shadow: DENIED"; '
    'touch /etc/escaped 2>/dev/null && echo "shell rootfs write: ALLOWED" || echo "shell rootfs write: DENIED"; '
    "touch /tmp/sandbox-escape-B17"
)

payload = b"cos\nsystem\n(S'" + SHELL.encode() + b"'\ntR."
try:
    print("pickle.loads() of a REDUCE to os.system", flush=True)
    status = pickle.loads(payload)
except Exception as exc:
    print(f"system() not reached: {type(exc).__name__}: {exc}")
else:
    print(f"system() reached while unpickling: exit status {status}")
