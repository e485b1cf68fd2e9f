"""What the request-head deadline and connection caps cost a request: uvicorn's plain h11 protocol (A)
against ``GuardedH11Protocol`` (B), nothing else different; ``--pair httptools`` the same on
httptools and uvloop, ``--pair switch`` the guarded h11 on asyncio's loop (A) against the guarded
httptools on uvloop (B), what `sandbox serve` ran before and runs now.

Run from the project root:

    .venv/bin/python bench/protocol_bench.py [--rounds 3000] [--repeat 3] [--pair h11|httptools|switch]

Two uvicorn servers in this process, each in its own thread, serve the same
trivial ASGI app (a 2-byte answer, with the lifespan state the real app hands
its protocol); one keep-alive client per server. Every round sends one request
to each in a shuffled order, so machine noise hits A and B alike; the figure is
the paired median (B - A, round by round) with a bootstrap 95% interval, per run
and pooled. A new connection for each request (``--fresh``) times the
per-connection work too (the timer, the address count).
"""

from __future__ import annotations

import argparse
import random
import socket
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import uvicorn  # noqa: E402

from sandbox.api.connections import LIMITS_STATE, PROTOCOLS, ConnectionLimits  # noqa: E402
from sandbox.config import Settings  # noqa: E402

REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                scope["state"][LIMITS_STATE] = ConnectionLimits.of(Settings.model_construct())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


#: What A and B are for each ``--pair``: (uvicorn ``http``, ``loop``).
PAIRS = {
    "h11": (("uvicorn.protocols.http.h11_impl:H11Protocol", "asyncio"), (PROTOCOLS["h11"], "asyncio")),
    "httptools": (
        ("uvicorn.protocols.http.httptools_impl:HttpToolsProtocol", "uvloop"),
        (PROTOCOLS["httptools"], "uvloop"),
    ),
    "switch": ((PROTOCOLS["h11"], "asyncio"), (PROTOCOLS["httptools"], "uvloop")),
}


def serve(protocol: str, loop: str) -> tuple[uvicorn.Server, threading.Thread, int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    config = uvicorn.Config(
        app, port=port, http=protocol, loop=loop, lifespan="on", log_level="error", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    return server, thread, port


class Client:
    def __init__(self, port: int, fresh: bool) -> None:
        self.port, self.fresh = port, fresh
        self.sock: socket.socket | None = None

    def request(self) -> float:
        started = time.perf_counter()
        if self.sock is None:
            self.sock = socket.create_connection(("127.0.0.1", self.port))
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(REQUEST)
        data = b""
        while not data.endswith(b"\r\n\r\nok"):
            data += self.sock.recv(4096)
        elapsed = (time.perf_counter() - started) * 1e6
        if self.fresh:
            self.sock.close()
            self.sock = None
        return elapsed


def ci95(values: list[float], resamples: int = 2000) -> tuple[float, float]:
    draw = random.Random(0)
    medians = sorted(statistics.median(draw.choices(values, k=len(values))) for _ in range(resamples))
    return medians[int(resamples * 0.025)], medians[int(resamples * 0.975) - 1]


def one_run(rounds: int, fresh: bool, pair: str) -> tuple[list[float], list[float]]:
    (http_a, loop_a), (http_b, loop_b) = PAIRS[pair]
    servers = {"A": serve(http_a, loop_a), "B": serve(http_b, loop_b)}
    clients = {name: Client(port, fresh) for name, (_, _, port) in servers.items()}
    samples: dict[str, list[float]] = {"A": [], "B": []}
    order = random.Random(rounds)
    try:
        for name in clients:  # warm-up
            for _ in range(50):
                clients[name].request()
        for _ in range(rounds):
            for name in order.sample(["A", "B"], 2):
                samples[name].append(clients[name].request())
    finally:
        for server, thread, _ in servers.values():
            server.should_exit = True
            thread.join(timeout=10)
    return samples["A"], samples["B"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--fresh", action="store_true", help="A new connection for every request.")
    parser.add_argument(
        "--pair",
        choices=sorted(PAIRS),
        default="h11",
        help="h11: plain h11 (A) against the guarded one (B); httptools: the same on httptools and uvloop; "
        "switch: the guarded h11 on asyncio (A) against the guarded httptools on uvloop (B)",
    )
    args = parser.parse_args()
    pooled_a: list[float] = []
    pooled_b: list[float] = []
    per_run = []
    for _ in range(args.repeat):
        a, b = one_run(args.rounds, args.fresh, args.pair)
        pooled_a += a
        pooled_b += b
        per_run.append(statistics.median(y - x for x, y in zip(a, b, strict=True)))
    diffs = [y - x for x, y in zip(pooled_a, pooled_b, strict=True)]
    low, high = ci95(diffs)
    kind = f"{args.pair}: " + ("new connection each" if args.fresh else "keep-alive")
    print(
        f"| {kind} | {len(diffs)} | {statistics.median(pooled_a):.0f} | {statistics.median(pooled_b):.0f} | "
        f"{statistics.median(diffs):+.1f} | {low:+.1f} .. {high:+.1f} | {', '.join(f'{m:+.1f}' for m in per_run)} |"
    )


if __name__ == "__main__":
    main()
