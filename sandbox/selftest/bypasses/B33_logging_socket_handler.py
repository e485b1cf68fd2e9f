# row: B33
# attack: A socket without importing socket: `logging.handlers.SocketHandler` connects to its host
#   when it first emits a record.
# v-on-finding: rule=attribute.denied source=ast text='SocketHandler'
# v-off-status: ok
# v-off-stdout-contains: connect 10.0.0.1: DENIED
# v-off-stdout-not-contains: ALLOWED
# v-off-host-path-absent: /tmp/sandbox-escape-B33_logging_socket_handler
# limits: wall_time_s=10
import logging.handlers

handler = logging.handlers.SocketHandler("10.0.0.1", 9020)
handler.closeOnError = True
try:
    handler.sock = handler.makeSocket(timeout=3)
except OSError as exc:
    print(f"connect 10.0.0.1: DENIED ({type(exc).__name__}: {exc})")
except Exception as exc:
    print(f"connect 10.0.0.1: DENIED ({type(exc).__name__}: {exc})")
else:
    print("connect 10.0.0.1: ALLOWED")
