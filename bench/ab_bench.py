"""A/B latency of two checkouts in one interleaved run: did a change make the warm path slower?

Run from the project root:

    git worktree add /tmp/ab-base <commit>          # the baseline, e.g. the commit before a refactor
    .venv/bin/python bench/ab_bench.py --baseline /tmp/ab-base [--runs 40]

Both checkouts run at once, each as its own processes with its own code and
runtime images (the baseline's are built under the image prefix ``abbase``, so
building them prunes nothing of ours): an engine worker per checkout (the
service in-process, hello world through ``ExecutionService.execute`` on a warm
pool) and a ``sandbox serve`` per checkout (hello world through REST, and one
call into an open session). Every round takes one sample of each of the six
paths in a shuffled order; before every sample everything is settled: each warm
pool full, no container of ours still being removed, and every process involved
(the runners of fresh containers, the servers, the workers) idle for 30 ms.
Medians and ratios are over the same rounds, so machine noise hits A and B alike.
The paired median (the median of B minus A, round by round) comes with a
bootstrap 95% interval. A run's processes have their own luck too (memory
layout, where their threads land): ``--repeat K`` makes K whole runs with fresh
processes, pools their rounds and shows each run's paired median as well.

Both sides may also be this checkout with different settings (``--env-a``,
``--env-b``: ``SANDBOX_*`` variables for that side's processes), e.g. tracing on
against tracing off; ``--otlp-sink`` starts a loopback OTLP/HTTP receiver that
accepts every export, and ``{sink}`` in a value is replaced by its URL.
``--title`` names the section written to bench/RESULTS.md (a section with the
same title is replaced, others are kept).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.server
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import docker
import httpx

ROOT = Path(__file__).resolve().parent.parent
RUN = uuid.uuid4().hex[:6]
CODE = "print('hello world')"
POOL = 2
BASE_PREFIX = "abbase"

#: The engine worker, run with a checkout's code on PYTHONPATH; it speaks lines on stdin/stdout.
WORKER = r"""
import asyncio, os, sys, time
from sandbox.config import Settings
from sandbox.models import ExecutionRequest
from sandbox.service import build_service

async def main():
    service = build_service(Settings(pool_size=int(os.environ["AB_POOL"]), validation_workers=0))
    await service.start()
    request = ExecutionRequest(code=os.environ["AB_CODE"])
    await service.execute(request)  # warm-up, not measured
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    while (await loop.run_in_executor(None, sys.stdin.readline)).strip() == "run":
        started = time.perf_counter()
        result = await service.execute(request)
        elapsed = (time.perf_counter() - started) * 1000
        assert result.stdout == "hello world\n", result
        print(f"{elapsed:.3f} {result.wall_ms}", flush=True)
    await service.aclose()

asyncio.run(main())
"""


@dataclass
class Side:
    """One checkout: its code, its processes, its samples."""

    label: str
    checkout: Path
    prefix: str
    extra: dict[str, str] = field(default_factory=dict)
    state: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="ab-bench-")))
    samples: dict[str, list[float]] = field(default_factory=dict)
    program_ms: list[int] = field(default_factory=list)
    worker: subprocess.Popen[str] | None = None
    server: subprocess.Popen[bytes] | None = None
    http: httpx.AsyncClient | None = None
    session: str = ""

    def env(self, role: str) -> dict[str, str]:
        return {
            **os.environ,
            "PYTHONPATH": str(self.checkout),
            "SANDBOX_IMAGE_PREFIX": self.prefix,
            "SANDBOX_STATE_DIR": str(self.state / role),
            "SANDBOX_OWNER": self.owner(role),
            "SANDBOX_POOL_SIZE": str(POOL),
            "SANDBOX_POOL_MAX": str(POOL),  # pools that size themselves (issue 16) held at POOL: settle counts them
            "AB_POOL": str(POOL),
            "AB_CODE": CODE,
            **self.extra,
        }

    def owner(self, role: str) -> str:
        return f"ab-{RUN}-{self.label.lower()}-{role}"

    def sandbox(self, *args: str, role: str = "api") -> str:
        """Run a `sandbox` command with this side's code; its stdout."""
        command = [sys.executable, "-m", "sandbox.cli", *args]
        done = subprocess.run(command, env=self.env(role), cwd=self.checkout, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{self.label}: sandbox {' '.join(args)} failed: {done.stderr[-2000:]}")
        return done.stdout

    def describe(self) -> str:
        sha = subprocess.run(["git", "-C", str(self.checkout), "describe", "--always", "--dirty"], capture_output=True)
        return sha.stdout.decode().strip()


async def start(side: Side, client: docker.DockerClient) -> None:
    if side.prefix != "sandbox":  # the base root filesystem is the same: reuse ours rather than debootstrap again
        for image in client.images.list(name="sandbox-base"):
            for tag in image.tags:
                image.tag(f"{side.prefix}-base", tag.partition(":")[2])
    side.sandbox("images", "build", "--language", "python")
    side.worker = subprocess.Popen(
        [sys.executable, "-c", WORKER],
        env=side.env("engine"),
        cwd=side.checkout,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert side.worker.stdout is not None
    line = await asyncio.to_thread(side.worker.stdout.readline)
    if line.strip() != "ready":
        raise RuntimeError(f"{side.label}: the engine worker did not start ({line!r})")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    key = side.sandbox("keys", "create", "--name", "bench", "--rate", "100000", "--max-concurrency", "64").strip()
    env = {**side.env("api"), "SANDBOX_VALIDATION_WORKERS": "1"}
    side.server = subprocess.Popen(
        [sys.executable, "-m", "sandbox.cli", "serve", "--port", str(port)],
        env=env,
        cwd=side.checkout,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    side.http = httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"}, timeout=60
    )
    for _ in range(600):
        with contextlib.suppress(httpx.HTTPError):
            if (await side.http.get("/readyz")).status_code == 200:
                break
        await asyncio.sleep(0.1)
    else:
        raise RuntimeError(f"{side.label}: sandbox serve did not become ready")
    side.session = (await side.http.post("/v1/sessions", json={})).json()["id"]
    await cell(side, "x = 0")
    await rest(side)  # warm-up: the verdict cache, the key cache


async def rest(side: Side) -> None:
    assert side.http is not None
    response = await side.http.post("/v1/executions", json={"code": CODE})
    assert response.status_code == 200 and response.json()["stdout"] == "hello world\n", response.text
    side.program_ms.append(response.json()["wall_ms"])


async def cell(side: Side, code: str = "x += 1\nprint(x)") -> None:
    assert side.http is not None
    response = await side.http.post(f"/v1/sessions/{side.session}/executions", json={"code": code})
    assert response.status_code == 200 and response.json()["status"] == "ok", response.text


async def engine(side: Side) -> None:
    assert side.worker is not None and side.worker.stdin is not None and side.worker.stdout is not None
    side.worker.stdin.write("run\n")
    side.worker.stdin.flush()
    line = await asyncio.to_thread(side.worker.stdout.readline)
    in_process_ms, program_ms = line.split()
    side.samples.setdefault("engine warm (in-process)", []).append(float(in_process_ms))
    side.samples.setdefault("engine warm: the program's own wall_ms", []).append(float(program_ms))


async def settle(client: docker.DockerClient, owners: list[str], hosts: list[int]) -> None:
    """Every pool full, nothing of ours being removed, and every process involved idle.

    Full: POOL running warm containers per owner and no other. Idle: the runners in those
    containers (a fresh one is still starting when Docker says running) and the host
    processes (``hosts``: both servers write records after answering) used no CPU for 30 ms.
    """
    deadline = time.monotonic() + 120
    counts: dict[str, list[int]] = {}
    while time.monotonic() < deadline:
        filters = {"label": "io.sandbox.managed=1"}
        listed = await asyncio.to_thread(client.api.containers, all=True, filters=filters)
        counts = {owner: [0, 0] for owner in owners}
        ours = []
        for container in listed:
            labels = container.get("Labels") or {}
            owner = labels.get("io.sandbox.owner")
            if owner in counts:
                ours.append(container["Id"])
                if labels.get("io.sandbox.kind") != "session":
                    counts[owner][0] += 1
                    counts[owner][1] += container["State"] == "running"
        if all(total == POOL and running == POOL for total, running in counts.values()):
            pids = [await container_pid(client, cid) for cid in ours] + hosts
            for _ in range(100):  # up to ~3 s, then sample anyway
                before = cpu_ticks(pids)
                await asyncio.sleep(0.03)
                if cpu_ticks(pids) == before:
                    return
            return
        await asyncio.sleep(0.02)
    raise RuntimeError(f"the pools did not settle within 120 s: {counts}")


_PIDS: dict[str, int] = {}


async def container_pid(client: docker.DockerClient, container_id: str) -> int:
    """The host pid of a container's PID 1 (the runner), cached."""
    if container_id not in _PIDS:
        state = (await asyncio.to_thread(client.api.inspect_container, container_id))["State"]
        _PIDS[container_id] = int(state.get("Pid") or 0)
    return _PIDS[container_id]


def cpu_ticks(pids: list[int]) -> int:
    """User + system clock ticks of these processes and all their descendants (gone ones count 0)."""
    total, seen, todo = 0, set(), [p for p in pids if p]
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
            for task in Path(f"/proc/{pid}/task").iterdir():
                todo.extend(int(child) for child in (task / "children").read_text().split())
    return total


class _Sink(http.server.BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver that accepts and drops every export (what a collector costs the sender)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def otlp_sink() -> str:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def parse_env(pairs: list[str], sink: str) -> dict[str, str]:
    env = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        env[name] = value.replace("{sink}", sink)
    return env


async def main(
    baseline: Path | None,
    runs: int,
    only: list[str],
    env_a: dict[str, str],
    env_b: dict[str, str],
    title: str,
    repeat: int,
) -> None:
    """``repeat`` whole runs (fresh processes each: a process's own luck, its memory layout or where
    its threads land, is noise too), reported pooled and one by one."""
    a = Side("A", (baseline or ROOT).resolve(), BASE_PREFIX if baseline else "sandbox", env_a)
    b = Side("B", ROOT, "sandbox", env_b)
    each: dict[str, list[float]] = {}
    for _ in range(repeat):
        sides = await one_run(baseline, runs, only, env_a, env_b)
        for pooled, side in zip((a, b), sides, strict=True):
            for name, values in side.samples.items():
                pooled.samples.setdefault(name, []).extend(values)
            pooled.program_ms.extend(side.program_ms)
        ra, rb = sides
        for name in ra.samples:
            each.setdefault(name, []).append(paired_median(ra.samples[name], rb.samples[name]))
    report([a, b], runs, only, title, repeat, each)


async def one_run(
    baseline: Path | None, runs: int, only: list[str], env_a: dict[str, str], env_b: dict[str, str]
) -> list[Side]:
    a = Side("A", baseline.resolve(), BASE_PREFIX, env_a) if baseline else Side("A", ROOT, "sandbox", env_a)
    sides = [a, Side("B", ROOT, "sandbox", env_b)]
    owners = [side.owner(role) for side in sides for role in ("engine", "api")]
    client = docker.from_env()
    try:
        for side in sides:
            await start(side, client)
        kinds = [(name, fn) for name, fn in (("engine", engine), ("rest", rest), ("cell", cell)) if name in only]
        paths = [(side, name, fn) for name, fn in kinds for side in sides]
        hosts = [p.pid for side in sides for p in (side.worker, side.server) if p is not None]
        shuffle = random.Random(RUN)  # a new order every round: no path always follows the same one
        for _ in range(runs):
            order = shuffle.sample(paths, len(paths))
            for side, name, fn in order:
                await settle(client, owners, hosts)
                started = time.perf_counter()
                await fn(side)
                elapsed = (time.perf_counter() - started) * 1000
                if name == "rest":
                    side.samples.setdefault("REST warm", []).append(elapsed)
                elif name == "cell":
                    side.samples.setdefault("REST session call", []).append(elapsed)
    finally:
        for side in sides:
            if side.http is not None:
                with contextlib.suppress(Exception):
                    await side.http.delete(f"/v1/sessions/{side.session}")
                await side.http.aclose()
            if side.worker is not None and side.worker.stdin is not None:
                side.worker.stdin.write("quit\n")
                side.worker.stdin.flush()
                side.worker.wait(timeout=60)
            if side.server is not None:
                side.server.terminate()
                side.server.wait(timeout=60)
        client.close()
    return sides


def paired_median(va: list[float], vb: list[float]) -> float:
    """Sample i of A and of B come from the same round: their difference cancels the round's noise."""
    return statistics.median(y - x for x, y in zip(va, vb, strict=True))


def report(
    sides: list[Side], runs: int, only: list[str], title: str, repeat: int, each: dict[str, list[float]]
) -> None:
    a, b = sides
    rows = [
        "| path | n | A p50 ms | B p50 ms | B/A p50 | B-A paired p50 ms | 95% CI | per run | A p90 ms | B p90 ms "
        "| B/A p90 | A p95 ms | B p95 ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in a.samples:
        va, vb = a.samples[name], b.samples[name]
        differences = [y - x for x, y in zip(va, vb, strict=True)]
        low, high = median_ci95(differences)
        runs_each = ", ".join(f"{m:+.2f}" for m in each.get(name, []))
        rows.append(
            f"| {name} | {len(va)} | {statistics.median(va):.2f} | {statistics.median(vb):.2f} | "
            f"{statistics.median(vb) / statistics.median(va):.3f} | {paired_median(va, vb):+.2f} | "
            f"{low:+.2f} .. {high:+.2f} | {runs_each} | {p90(va):.2f} | {p90(vb):.2f} | {p90(vb) / p90(va):.3f} | "
            f"{p95(va):.2f} | {p95(vb):.2f} |"
        )
    table = "\n".join(rows)
    print(table)
    settings = "".join(f" --env-{s.label.lower()} {k}={v}" for s in sides for k, v in s.extra.items())
    section = (
        f"## A/B latency: {title}\n\n"
        f"- {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; command: `.venv/bin/python bench/ab_bench.py"
        f"{' --baseline <worktree of A>' if a.checkout != b.checkout else ''} --runs {runs} --repeat {repeat} "
        f"--paths {','.join(only)}{settings} --title '{title}'`\n"
        f"- A = `{a.describe()}`, B = `{b.describe()}`; {os.cpu_count()} cores, "
        f"load average at the end {', '.join(f'{x:.2f}' for x in os.getloadavg())}\n"
        f"- method: see the docstring of `bench/ab_bench.py` (both running at once, interleaved, settled)\n"
        + (
            f"- the program's own wall_ms p50 over REST: A {statistics.median(a.program_ms):.1f}, "
            f"B {statistics.median(b.program_ms):.1f} "
            f"(B/A {statistics.median(b.program_ms) / max(statistics.median(a.program_ms), 0.5):.2f})\n"
            if a.program_ms and b.program_ms
            else ""
        )
        + f"\n{table}\n"
    )
    results = ROOT / "bench" / "RESULTS.md"
    existing = results.read_text() if results.exists() else "# Benchmark results\n\n"
    kept = [p for p in re.split(r"(?m)^(?=## )", existing) if p and not p.startswith(f"## A/B latency: {title}\n")]
    results.write_text("".join(kept).rstrip("\n") + "\n\n" + section)


def median_ci95(values: list[float], resamples: int = 4000) -> tuple[float, float]:
    """A bootstrap 95% interval of the median: how far the paired median may be from the true one."""
    draw = random.Random(0)
    medians = sorted(statistics.median(draw.choices(values, k=len(values))) for _ in range(resamples))
    return medians[int(resamples * 0.025)], medians[int(resamples * 0.975) - 1]


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10, method="inclusive")[-1] if len(values) > 1 else values[0]


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1] if len(values) > 1 else values[0]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, help="A checkout (git worktree) for A (default: this one).")
    parser.add_argument("--runs", type=int, default=40, help="Rounds per run.")
    parser.add_argument("--repeat", type=int, default=1, help="Whole runs, each with fresh processes; pooled.")
    parser.add_argument("--paths", default="engine,rest,cell", help="Which paths to sample (comma-separated).")
    parser.add_argument("--env-a", action="append", default=[], help="NAME=value for A's processes (repeatable).")
    parser.add_argument("--env-b", action="append", default=[], help="NAME=value for B's processes (repeatable).")
    parser.add_argument("--otlp-sink", action="store_true", help="Start a loopback OTLP receiver ({sink}).")
    parser.add_argument("--title", default="this checkout against the baseline", help="The RESULTS.md section.")
    args = parser.parse_args()
    sink = otlp_sink() if args.otlp_sink else ""
    env_a, env_b = parse_env(args.env_a, sink), parse_env(args.env_b, sink)
    asyncio.run(main(args.baseline, args.runs, args.paths.split(","), env_a, env_b, args.title, args.repeat))
