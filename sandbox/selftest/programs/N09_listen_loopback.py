# row: N09
# attack: Run a server: listen on 0.0.0.0 (all interfaces) on a port that is free on the host (from stdin),
#   check it works inside (own netns, only lo), and let the host try to connect to that port meanwhile.
#   The host must not reach it; inside, the interface list must be exactly ['lo'].
# expect-status: ok
# expect-stdout-contains: interfaces: ['lo']
# expect-stdout-contains: loopback-inside: works
# expect-stdout-contains: LISTENING
# hook: host-port
# limits: wall_time_s=8
import socket
import sys
import time

port = int(sys.stdin.read())
print(f"interfaces: {[name for _, name in socket.if_nameindex()]}")
server = socket.socket()
server.bind(("0.0.0.0", port))
server.listen()
with socket.create_connection(("127.0.0.1", port), timeout=1) as c:
    conn, _ = server.accept()
    c.sendall(b"ping")
    print(f"loopback-inside: {'works' if conn.recv(4) == b'ping' else 'broken'}")
    conn.close()
print("LISTENING", flush=True)
time.sleep(2.5)
