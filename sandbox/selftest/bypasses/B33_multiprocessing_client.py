# row: B33
# attack: A socket without importing socket: `multiprocessing.connection.Client(address)` connects
#   over TCP (and `Listener` would listen).
# v-on-finding: rule=import.denied source=ast text='multiprocessing.connection'
# v-off-status: ok
# v-off-stdout-contains: connect 10.0.0.1: DENIED
# v-off-stdout-not-contains: ALLOWED
# v-off-host-path-absent: /tmp/sandbox-escape-B33_multiprocessing_client
# limits: wall_time_s=10
from multiprocessing.connection import Client

try:
    Client(("10.0.0.1", 6000))
except OSError as exc:
    print(f"connect 10.0.0.1: DENIED ({type(exc).__name__}: {exc})")
except Exception as exc:
    print(f"connect 10.0.0.1: DENIED ({type(exc).__name__}: {exc})")
else:
    print("connect 10.0.0.1: ALLOWED")
