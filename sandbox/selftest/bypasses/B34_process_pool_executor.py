# row: B34
# attack: Process creation without os or subprocess: `concurrent.futures.ProcessPoolExecutor` forks
#   workers; one of them runs the shell through the worker's own `os` (the program names only the pool).
# v-on-finding: rule=attribute.denied source=ast text='ProcessPoolExecutor'
# v-off-status: ok
# v-off-stdout-contains: system() reached
# v-off-stdout-contains: uid=65534(nobody) gid=65534(nogroup)
# v-off-stdout-contains: shell /etc/shadow: DENIED
# v-off-stdout-contains: shell rootfs write: DENIED
# v-off-stdout-not-contains: ALLOWED
# v-off-host-path-absent: /tmp/sandbox-escape-B34_process_pool_executor
# limits: wall_time_s=10
import concurrent.futures
import os

SHELL = (
    "echo 'system() reached'; id; "
    'cat /etc/shadow >/dev/null 2>&1 && echo "shell /etc/shadow: ALLOWED" || echo "shell /etc/shadow: DENIED"; '
    'touch /etc/escaped 2>/dev/null && echo "shell rootfs write: ALLOWED" || echo "shell rootfs write: DENIED"; '
    "touch /tmp/sandbox-escape-B34_process_pool_executor"
)


def in_child(command):
    pid = os.getpid()
    status = getattr(os, "sys" + "tem")(command)
    return pid, status


try:
    with concurrent.futures.ProcessPoolExecutor(max_workers=1) as pool:
        child, status = pool.submit(in_child, SHELL).result(timeout=8)
except Exception as exc:
    print(f"system() not reached: {type(exc).__name__}: {exc}")
else:
    print(f"worker process {child} (parent {os.getpid()}): shell exit status {status}")
