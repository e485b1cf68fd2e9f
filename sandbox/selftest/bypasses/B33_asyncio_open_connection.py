# row: B33
# attack: A socket without importing socket: `asyncio.open_connection()` creates and connects one
#   (also `loop.create_connection`, `start_server`, `sock_connect`).
# v-on-finding: rule=attribute.denied source=ast text='open_connection'
# v-off-status: ok
# v-off-stdout-contains: connect 10.0.0.1: DENIED
# v-off-stdout-not-contains: ALLOWED
# v-off-host-path-absent: /tmp/sandbox-escape-B33_asyncio_open_connection
# limits: wall_time_s=10
import asyncio


async def connect():
    _reader, writer = await asyncio.wait_for(asyncio.open_connection("10.0.0.1", 80), timeout=3)
    writer.close()


try:
    asyncio.run(connect())
except OSError as exc:
    print(f"connect 10.0.0.1: DENIED ({type(exc).__name__}: {exc})")
except Exception as exc:
    print(f"connect 10.0.0.1: DENIED ({type(exc).__name__}: {exc})")
else:
    print("connect 10.0.0.1: ALLOWED")
