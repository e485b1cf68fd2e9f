"""Which ASGI server for the REST API (issue 11): latency, and what 500 half-open connections do to each.

Run from the project root, with the candidates other than the project's own in a throwaway venv:

    python3 -m venv /tmp/srvbench
    /tmp/srvbench/bin/pip install fastapi 'uvicorn[standard]' hypercorn granian
    .venv/bin/python bench/server_choice_bench.py --other-python /tmp/srvbench/bin/python \
        [--rounds 1500] [--fresh-rounds 600] [--repeat 3]

One minimal FastAPI app (this file's ``app``: GET /v1/ping, a small JSON; POST /v1/executions, a
~1 KB JSON body in and ~1 KB JSON out, the shape of the real POST without the container) is
served by each candidate as its own subprocess on loopback, one worker, the asyncio event loop
unless the name says uvloop:

    A  uvicorn, h11 (plain)                        project venv
    A0 A, the app importing the project as B's     project venv (a control: B - A0 is the protocol alone)
    B  uvicorn, the project's GuardedH11Protocol   project venv (head deadline 3 s)
    C  uvicorn, httptools                          other venv
    C2 uvicorn, httptools + uvloop                 other venv ("uvicorn[standard]" as it ships)
    D  hypercorn, asyncio worker                   other venv (keep_alive_timeout 3 s)
    E  granian, ASGI interface                     other venv (http1 header_read_timeout 3000 ms)

Latency: every round sends one request to each server in a shuffled order (so the machine's
other load hits all alike) from a raw-socket client in this process; keep-alive (GET and POST),
then a new connection per request (POST). Each run starts the servers afresh; per run the p50
and p95 of each, and pooled the paired difference against B (round by round) with a bootstrap
95% interval.

Half-open: for each server alone (fresh), 500 connections from 127.0.0.2 each send
"GET / HTTP/1.1\\r\\nHost: x\\r\\n" and nothing more, and 20 from 127.0.0.3 trickle a header byte
every 0.5 s; then POSTs from 127.0.0.1 (a new connection each) are timed, and one from 127.0.0.2
(the attacking address); then how many of the half-open sockets the server has closed, and when.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import select
import socket
import statistics
import subprocess
import time
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
HEAD_DEADLINE_S = 3
HALF_OPEN = 500
TRICKLE = 20

# ---------------------------------------------------------------------------------------------- the app
# Imported by each server (PYTHONPATH=bench, "server_choice_bench:app"); the project is imported only
# by B's server (BENCH_GUARDED=1), which needs the limits in the lifespan state as `sandbox serve` has.

with suppress(ImportError):  # the bench client itself needs no FastAPI
    from fastapi import FastAPI
    from pydantic import BaseModel

    class ExecutionIn(BaseModel):
        code: str
        language: str = "python"
        timeout_s: float = 10.0
        env: dict[str, str] = {}
        files: dict[str, str] = {}

    @asynccontextmanager
    async def lifespan(_: Any) -> Any:
        if os.environ.get("BENCH_GUARDED") == "1":
            from sandbox.api.connections import LIMITS_STATE, ConnectionLimits

            yield {
                LIMITS_STATE: ConnectionLimits(
                    header_timeout_s=HEAD_DEADLINE_S,
                    max_connections_per_client=64,  # the project's default
                    max_connections=1000,
                    max_requests=64,
                )
            }
        else:
            yield {}

    app = FastAPI(lifespan=lifespan)

    @app.get("/v1/ping")
    async def ping() -> dict[str, Any]:
        return {"status": "ok", "version": 1}

    @app.post("/v1/executions")
    async def execute(body: ExecutionIn) -> dict[str, Any]:
        return {
            "id": "exe_0123456789abcdef",
            "status": "ok",
            "exit_code": 0,
            "stdout": body.code[:400],
            "stderr": "",
            "duration_ms": 12.5,
            "language": body.language,
            "files": body.files,
            "env_keys": sorted(body.env),
            "limits": {"timeout_s": body.timeout_s, "memory_mb": 256, "cpu": 1.0},
        }


# ---------------------------------------------------------------------------------------------- servers
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Candidate:
    key: str
    name: str
    python: str  # interpreter (venv) that runs it
    package: str  # whose version to report
    setting: str  # the head deadline setting, as the table says it
    cap: str
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    version: str = ""

    def argv(self) -> list[str]:
        host, port = "127.0.0.1", str(self.port)
        uv = [self.python, "-m", "uvicorn", "server_choice_bench:app", "--host", host, "--port", port]
        uv += ["--log-level", "warning", "--no-access-log", "--timeout-keep-alive", "5", "--lifespan", "on"]
        if self.key in ("A", "A0"):
            return [*uv, "--http", "h11", "--loop", "asyncio"]
        if self.key == "B":
            return [*uv, "--http", "sandbox.api.connections:GuardedH11Protocol", "--loop", "asyncio",
                    "--h11-max-incomplete-event-size", str(32 << 10)]  # fmt: skip
        if self.key == "C":
            return [*uv, "--http", "httptools", "--loop", "asyncio"]
        if self.key == "C2":
            return [*uv, "--http", "httptools", "--loop", "uvloop"]
        if self.key == "D":
            return [self.python, "-m", "hypercorn", "server_choice_bench:app", "--bind", f"{host}:{port}",
                    "--workers", "1", "--worker-class", "asyncio", "--keep-alive", str(HEAD_DEADLINE_S),
                    "--log-level", "warning"]  # fmt: skip
        if self.key == "E":
            return [self.python, "-m", "granian", "server_choice_bench:app", "--interface", "asgi",
                    "--host", host, "--port", port, "--workers", "1", "--runtime-threads", "1", "--http", "1",
                    "--loop", "asyncio", "--no-ws", "--log-level", "warning",
                    "--http1-header-read-timeout", str(HEAD_DEADLINE_S * 1000)]  # fmt: skip
        raise ValueError(self.key)

    def start(self) -> None:
        self.port = free_port()
        guarded = "1" if self.key in ("A0", "B") else "0"
        env = {**os.environ, "PYTHONPATH": f"{HERE}{os.pathsep}{ROOT}", "BENCH_GUARDED": guarded}
        self.proc = subprocess.Popen(self.argv(), env=env, cwd=HERE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with suppress(OSError):
                if request(self.port, GET, fresh=True)[0] == 200:
                    return
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def find_version(self) -> None:
        out = subprocess.run(
            [self.python, "-c", f"import importlib.metadata as m; print(m.version({self.package!r}))"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        self.version = out.stdout.strip()


def candidates(project_python: str, other_python: str) -> list[Candidate]:
    none = "none"
    # fmt: off
    return [
        Candidate("A", "uvicorn h11", project_python, "uvicorn", "none (keep-alive timer only after a response)", none),
        # A0: A whose app imports the project and hands the limits as B's does (a control: B - A0 is the protocol)
        Candidate("A0", "uvicorn h11, project imported", project_python, "uvicorn", "none (as A)", none),
        Candidate("B", "uvicorn GuardedH11Protocol", project_python, "uvicorn",
                  "`header_timeout_s` (whole head, from connect)", "`max_connections_per_client`"),
        Candidate("C", "uvicorn httptools", other_python, "uvicorn", "none (as A)", none),
        Candidate("C2", "uvicorn httptools+uvloop", other_python, "uvicorn", "none (as A)", none),
        Candidate("D", "hypercorn asyncio", other_python, "hypercorn",
                  "`keep_alive_timeout` (idle timer runs until a head is parsed; also the keep-alive idle)",
                  none),
        Candidate("E", "granian asgi", other_python, "granian", "`--http1-header-read-timeout` (ms)", none),
    ]
    # fmt: on


# ---------------------------------------------------------------------------------------------- client
GET = b"GET /v1/ping HTTP/1.1\r\nHost: bench\r\n\r\n"
_BODY = json.dumps(
    {
        "code": "import math\n" + "print(sum(math.sqrt(i) for i in range(1000)))\n" * 8,
        "language": "python",
        "timeout_s": 10,
        "env": {f"VAR_{i}": "x" * 20 for i in range(8)},
        "files": {f"data_{i}.txt": "y" * 40 for i in range(4)},
    }
).encode()
POST = (
    b"POST /v1/executions HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
    b"Authorization: Bearer sk-bench-0123456789\r\nContent-Length: %d\r\n\r\n%s" % (len(_BODY), _BODY)
)


def read_response(sock: socket.socket) -> tuple[int, bool]:
    """(status, whether the server closes the connection after it)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before a response head")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length, closing = 0, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"connection" and value.strip().lower() == b"close":
            closing = True
        elif name.strip().lower() == b"content-length":
            length = int(value)
        elif name.strip().lower() == b"transfer-encoding":
            raise ValueError("chunked response: not handled")
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed inside a body")
        body += chunk
    return status, closing


def connect(port: int, source: str = "127.0.0.1", timeout: float | None = None) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((source, 0))
    sock.settimeout(timeout)
    sock.connect(("127.0.0.1", port))
    return sock


def request(port: int, raw: bytes, fresh: bool, source: str = "127.0.0.1", timeout: float = 10) -> tuple[int, float]:
    """One request on a new connection (closed after), returning (status, microseconds)."""
    started = time.perf_counter()
    with connect(port, source, timeout) as sock:
        sock.sendall(raw)
        status, _ = read_response(sock)
    return status, (time.perf_counter() - started) * 1e6


class KeepAlive:
    def __init__(self, port: int) -> None:
        self.port = port
        self.sock: socket.socket | None = None

    def request(self, raw: bytes) -> float:
        if self.sock is None:
            self.sock = connect(self.port, timeout=10)
        started = time.perf_counter()
        self.sock.sendall(raw)
        status, closing = read_response(self.sock)
        elapsed = (time.perf_counter() - started) * 1e6
        if closing:  # hypercorn closes a connection after keep_alive_max_requests (1000): reconnect, untimed
            self.close()
        if status != 200:
            raise RuntimeError(f"status {status}")
        return elapsed

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


# ---------------------------------------------------------------------------------------------- latency
@dataclass
class Samples:
    get: dict[str, list[float]] = field(default_factory=dict)
    post: dict[str, list[float]] = field(default_factory=dict)
    fresh: dict[str, list[float]] = field(default_factory=dict)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ci95(values: list[float], resamples: int = 2000) -> tuple[float, float]:
    draw = random.Random(0)
    medians = sorted(statistics.median(draw.choices(values, k=len(values))) for _ in range(resamples))
    return medians[int(resamples * 0.025)], medians[int(resamples * 0.975) - 1]


def latency_run(cands: list[Candidate], rounds: int, fresh_rounds: int, seed: int) -> Samples:
    order = random.Random(seed)
    keys = [c.key for c in cands]
    ports = {c.key: c.port for c in cands}
    out = Samples({k: [] for k in keys}, {k: [] for k in keys}, {k: [] for k in keys})
    clients = {k: KeepAlive(ports[k]) for k in keys}
    try:
        for k in keys:  # warm-up
            for _ in range(100):
                clients[k].request(GET)
                clients[k].request(POST)
        for _ in range(rounds):
            for k in order.sample(keys, len(keys)):
                out.get[k].append(clients[k].request(GET))
                out.post[k].append(clients[k].request(POST))
    finally:
        for client in clients.values():
            client.close()
    for _ in range(fresh_rounds):
        for k in order.sample(keys, len(keys)):
            status, us = request(ports[k], POST, fresh=True)
            if status != 200:
                raise RuntimeError(f"{k}: status {status}")
            out.fresh[k].append(us)
    return out


# ---------------------------------------------------------------------------------------------- half-open
PARTIAL = b"GET / HTTP/1.1\r\nHost: x\r\n"


def half_open(cand: Candidate, watch_s: float) -> dict[str, Any]:
    port = cand.port
    socks: list[socket.socket] = []
    born: dict[socket.socket, float] = {}  # when each connected
    refused_connect = 0
    for _ in range(HALF_OPEN):
        try:
            s = connect(port, "127.0.0.2", timeout=2)
            born[s] = time.monotonic()
            s.sendall(PARTIAL)
            s.setblocking(False)
            socks.append(s)
        except OSError:
            refused_connect += 1
    trickle = []
    for _ in range(TRICKLE):
        with suppress(OSError):
            s = connect(port, "127.0.0.3", timeout=2)
            born[s] = time.monotonic()
            s.setblocking(False)
            trickle.append(s)
    trickle_payload = {s: PARTIAL for s in trickle}
    time.sleep(0.3)  # let the server accept them all

    closed_after: dict[socket.socket, float] = {}  # seconds from its connect to its close by the server
    answers: dict[int | str, int] = {}  # what the server said before closing (status), or nothing

    def poll() -> None:
        open_ = [s for s in socks + trickle if s not in closed_after]
        if not open_:
            return
        readable, _, _ = select.select(open_, [], [], 0)
        for s in readable:
            said = b""
            while True:
                try:
                    data = s.recv(4096)
                except BlockingIOError:
                    break  # still open (kept what it said so far)
                except OSError:
                    data = b""  # reset: closed
                if not data:
                    closed_after[s] = time.monotonic() - born[s]
                    status: int | str = int(said.split()[1]) if said.startswith(b"HTTP/") else "none"
                    answers[status] = answers.get(status, 0) + 1
                    break
                said += data

    connect_s = max(born.values()) - min(born.values())
    poll()

    # Requests from another address while they are held, then one from the attacking address.
    good: list[tuple[int | str, float]] = []
    for _ in range(5):
        try:
            good.append(request(port, POST, fresh=True, source="127.0.0.1", timeout=10))
        except (OSError, ConnectionError) as exc:
            good.append((type(exc).__name__, 10e6))
    try:
        same: tuple[int | str, float] = request(port, POST, fresh=True, source="127.0.0.2", timeout=10)
    except (OSError, ConnectionError) as exc:
        same = (type(exc).__name__, 0.0)

    # Watch: a header byte every 0.5 s on the trickling sockets; record closes.
    next_byte = time.monotonic()
    end = max(born.values()) + watch_s
    while time.monotonic() < end:
        if time.monotonic() >= next_byte:
            next_byte += 0.5
            for s, rest in list(trickle_payload.items()):
                if s in closed_after:
                    continue
                with suppress(OSError):
                    s.send(rest[:1])
                    trickle_payload[s] = rest[1:] or b"X-Pad: " + b"a" * 200
        poll()
        time.sleep(0.02)
    early = [t for s, t in closed_after.items() if s in socks and t < 1.0]  # refused at once (a cap)
    held = sorted(t for s, t in closed_after.items() if s in socks and t >= 1.0)
    trickled = sorted(closed_after[s] for s in trickle if s in closed_after)
    for s in socks + trickle:
        s.close()
    return {
        "connected": len(socks),
        "connect_all_s": round(connect_s, 2),
        "refused_connect": refused_connect,
        "closed_at_once": len(early),
        "closed_later": len(held),
        "close_after_connect_p50_s": round(statistics.median(held), 2) if held else None,
        "close_after_connect_max_s": round(held[-1], 2) if held else None,
        "trickle_closed": len(trickled),
        "trickle_close_p50_s": round(statistics.median(trickled), 2) if trickled else None,
        "answers_before_close": answers,
        "other_address_status": [g[0] for g in good],
        "other_address_p50_us": round(statistics.median(g[1] for g in good)),
        "same_address": [same[0], round(same[1])],
    }


# ---------------------------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--other-python", default="/tmp/srvbench/bin/python")
    parser.add_argument("--rounds", type=int, default=1500, help="keep-alive rounds a run")
    parser.add_argument("--fresh-rounds", type=int, default=600, help="new-connection rounds a run")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--watch", type=float, default=10.0, help="seconds to watch the half-open sockets")
    parser.add_argument("--only", default="", help="comma-separated keys (default: all)")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-half-open", action="store_true")
    args = parser.parse_args()

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192) if hard != resource.RLIM_INFINITY else 8192, hard))
    cands = candidates(str(ROOT / ".venv" / "bin" / "python"), args.other_python)
    if args.only:
        cands = [c for c in cands if c.key in args.only.split(",")]
    for c in cands:
        c.find_version()
    print(f"load average at start: {os.getloadavg()}", flush=True)

    runs: list[Samples] = []
    if not args.skip_latency:
        for run in range(args.repeat):
            for c in cands:
                c.start()
            try:
                runs.append(latency_run(cands, args.rounds, args.fresh_rounds, seed=run))
            finally:
                for c in cands:
                    c.stop()
            print(f"run {run + 1}/{args.repeat} done, load {os.getloadavg()[0]:.1f}", flush=True)
        ref = "B" if any(c.key == "B" for c in cands) else cands[0].key
        for kind in ("get", "post", "fresh"):
            print(f"\n{kind}: p50 us per run (p95), median of runs, min of runs; paired vs {ref}: median, 95% CI")
            for c in cands:
                per = [getattr(r, kind)[c.key] for r in runs]
                p50s = [statistics.median(v) for v in per]
                p95s = [pct(v, 0.95) for v in per]
                pairs = [zip(getattr(r, kind)[ref], getattr(r, kind)[c.key], strict=True) for r in runs]
                diffs = [y - x for pair in pairs for x, y in pair]
                low, high = ci95(diffs)
                print(
                    f"  {c.key:<3}{c.name:<28} p50 {', '.join(f'{p:.0f}' for p in p50s)} "
                    f"(p95 {', '.join(f'{p:.0f}' for p in p95s)}) | med {statistics.median(p50s):.0f} "
                    f"min {min(p50s):.0f} | p95 med {statistics.median(p95s):.0f} | "
                    f"{c.key}-{ref} {statistics.median(diffs):+.0f} ({low:+.0f} .. {high:+.0f})",
                    flush=True,
                )

    if not args.skip_half_open:
        print(f"\nhalf-open: {HALF_OPEN} from 127.0.0.2 + {TRICKLE} trickling from 127.0.0.3; watched {args.watch} s")
        for c in cands:
            c.start()
            try:
                result = half_open(c, args.watch)
            finally:
                c.stop()
            print(f"  {c.key:<3}{c.name:<28} {c.version:<8} {json.dumps(result)}", flush=True)
    print(f"\nversions: {', '.join(f'{c.key}={c.package} {c.version}' for c in cands)}")
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
