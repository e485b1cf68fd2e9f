# row: B34
# attack: Process creation without the subprocess module: the event loop's own
#   `loop.subprocess_shell()` starts a shell (as `asyncio.create_subprocess_shell` would).
# v-on-finding: rule=attribute.denied source=ast text='subprocess_shell'
# v-off-status: ok
# v-off-stdout-contains: system() reached
# v-off-stdout-contains: uid=65534(nobody) gid=65534(nogroup)
# v-off-stdout-contains: shell /etc/shadow: DENIED
# v-off-stdout-contains: shell rootfs write: DENIED
# v-off-stdout-not-contains: ALLOWED
# v-off-host-path-absent: /tmp/sandbox-escape-B34_asyncio_loop_subprocess_shell
# limits: wall_time_s=10
import asyncio

SHELL = (
    "echo 'system() reached'; id; "
    'cat /etc/shadow >/dev/null 2>&1 && echo "shell /etc/shadow: ALLOWED" || echo "shell /etc/shadow: DENIED"; '
    'touch /etc/escaped 2>/dev/null && echo "shell rootfs write: ALLOWED" || echo "shell rootfs write: DENIED"; '
    "touch /tmp/sandbox-escape-B34_asyncio_loop_subprocess_shell"
)


class Collect(asyncio.SubprocessProtocol):
    def __init__(self, done):
        self.done, self.output = done, b""

    def pipe_data_received(self, fd, data):
        self.output += data

    def process_exited(self):
        self.done.set_result(None)


async def main():
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    transport, protocol = await loop.subprocess_shell(lambda: Collect(done), SHELL)
    await asyncio.wait_for(done, timeout=5)
    await asyncio.sleep(0.1)  # the last pipe data
    transport.close()
    return protocol.output.decode()


try:
    print(asyncio.run(main()))
except Exception as exc:
    print(f"system() not reached: {type(exc).__name__}: {exc}")
