"""Cluster cost and gain: warm hello world through one process against through a replica and a worker,
and throughput with one worker against two.

    .venv/bin/python bench/cluster_bench.py [--runs 30] [--rounds 3] [--requests 40] [--concurrency 4 8]

(i) Latency. One `sandbox serve` without Redis (everything in-process, SQLite) and a local cluster
(``sandbox.cluster.local.LocalCluster``: PostgreSQL, Redis, one replica, one worker) run side by
side, same pool size. Each round takes ``--runs`` samples of each path, interleaved (the order
alternates every sample), each after both warm pools are full again (``/readyz``: the server's,
and the worker's when it reports pools); a round gives p50 and p90 per path, the table shows the
median of the rounds' figures. The difference is the price of the hop: Redis Streams there and
back, PostgreSQL instead of SQLite.

(ii) Throughput. ``--requests`` hello worlds at each ``--concurrency`` through the cluster's replica
with one worker (the second stopped), then with two, and through the single process for
reference; executions/s = requests / elapsed. On one host both workers share its cores: the
figure shows what dispatch costs and whether a second worker's slots are used, not host scaling.

Prints markdown tables (the style of bench/RESULTS.md); writes nothing else. Everything it starts
is stopped at the end, and no container of its owners is left.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.rest_bench import percentile, start_server  # noqa: E402
from sandbox.cluster.local import LocalCluster  # noqa: E402
from sandbox.cluster.localservers import free_port  # noqa: E402
from sandbox.engine import remove_owned_containers  # noqa: E402
from sandbox.store import Store  # noqa: E402

OWNER = f"bench-cluster-{uuid.uuid4().hex[:6]}"
CODE = "print('hello world')"
Sample = Callable[[], Awaitable[None]]


async def start_single(state: Path, port: int, pool_size: int) -> subprocess.Popen[bytes]:
    """`sandbox serve` without Redis: the single-process path, ready (pools full) when this returns."""
    return await start_server(state, port, owner=f"{OWNER}-single", pool_size=pool_size, clean_env=True)


async def pools_full(http: httpx.AsyncClient, url: str) -> None:
    """Until ``url``/readyz reports every pool full; at once if it reports none (a replica's)."""
    for _ in range(600):
        with contextlib.suppress(httpx.HTTPError, ValueError):
            body = (await http.get(f"{url}/readyz")).json()
            pools = body.get("pools") if isinstance(body, dict) else None
            if not pools or all(p["ready"] >= p["target"] for p in pools.values()):
                return
        await asyncio.sleep(0.01)


def executor(http: httpx.AsyncClient, url: str, key: str) -> Sample:
    headers = {"Authorization": f"Bearer {key}"}

    async def run() -> None:
        response = await http.post(f"{url}/v1/executions", json={"code": CODE}, headers=headers)
        assert response.status_code == 200 and response.json()["stdout"] == "hello world\n", response.text

    return run


async def latency(
    paths: dict[str, Sample], refill: Callable[[], Awaitable[None]], runs: int, rounds: int
) -> dict[str, dict[str, float]]:
    """Per path: the median over ``rounds`` of each round's p50 and p90 (ms)."""
    per_round: dict[str, list[tuple[float, float]]] = {name: [] for name in paths}
    for path in paths.values():  # warm-up: caches, connections, the verdict cache
        await refill()
        await path()
    for _ in range(rounds):
        samples: dict[str, list[float]] = {name: [] for name in paths}
        for index in range(runs):
            names = list(paths) if index % 2 == 0 else list(reversed(paths))
            for name in names:
                await refill()
                started = time.perf_counter()
                await paths[name]()
                samples[name].append((time.perf_counter() - started) * 1000)
        for name, values in samples.items():
            per_round[name].append((statistics.median(values), percentile(values, 0.9)))
    return {
        name: {
            "p50": statistics.median(p50 for p50, _ in figures),
            "p90": statistics.median(p90 for _, p90 in figures),
            "rounds": len(figures),
        }
        for name, figures in per_round.items()
    }


async def throughput(run: Sample, requests: int, concurrency: int) -> float:
    """Executions per second: ``requests`` runs, at most ``concurrency`` at once."""
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            await run()

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(requests)))
    return requests / (time.perf_counter() - started)


async def main(args: argparse.Namespace) -> None:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    state = Path(tempfile.mkdtemp(prefix="cluster-bench-"))
    port = free_port()
    single = await start_single(state / "single", port, args.pool_size)
    single_key = Store(f"sqlite:///{state / 'single' / 'sandbox.db'}").create_key("bench", "standard", 64, 100_000)[1]
    settings = {"pool_size": args.pool_size, "validation_workers": 1, "max_concurrency": 16}
    cluster = LocalCluster(state / "cluster-state", settings, inherit_env=False)
    started = time.monotonic()
    try:
        cluster.up(replicas=1, workers=2)
        cluster_key = Store(cluster.database_url).create_key("bench", "standard", 64, 100_000)[1]
        replica = cluster.replicas()[0].url
        single_url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=32)) as http:
            worker_urls = [m.url for m in cluster.workers()]
            cluster.stop_worker("worker-2")
            paths = {
                "single process (serve, no Redis)": executor(http, single_url, single_key),
                "cluster (replica -> worker)": executor(http, replica, cluster_key),
            }

            async def refill() -> None:
                await pools_full(http, single_url)
                await pools_full(http, worker_urls[0])

            lat = await latency(paths, refill, args.runs, args.rounds)

            rates: dict[tuple[str, int], float] = {}
            for level in args.concurrency:
                for label, workers in (("cluster, 1 worker", 1), ("cluster, 2 workers", 2)):
                    if workers == 2:
                        cluster.start_member("worker-2")
                    else:
                        cluster.stop_worker("worker-2")
                    await refill()
                    await throughput(paths["cluster (replica -> worker)"], level, level)  # warm-up
                    rates[(label, level)] = await throughput(paths["cluster (replica -> worker)"], args.requests, level)
                await refill()
                rates[("single process", level)] = await throughput(
                    paths["single process (serve, no Redis)"], args.requests, level
                )
    finally:
        single.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            single.wait(timeout=60)
        left_cluster = cluster.down(grace_s=30) if cluster.layout() else []
        left_single = remove_owned_containers([f"{OWNER}-single"])
        with contextlib.suppress(Exception):
            cluster.postgres().remove()
    minutes = (time.monotonic() - started) / 60

    single_name, cluster_name = list(lat)
    lines = [
        f"## Cluster: one replica and a worker against one process ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        f"`.venv/bin/python bench/cluster_bench.py --runs {args.runs} --rounds {args.rounds} "
        f"--requests {args.requests} --concurrency {' '.join(map(str, args.concurrency))}` on {os.cpu_count()} "
        f"cores, load average at start {load}, pool size "
        f"{args.pool_size}; duration {minutes:.1f} min. Method: the docstring of `bench/cluster_bench.py`.",
        "",
        f"### Warm hello world, ms (median of {args.rounds} rounds' figures, {args.runs} samples per round and path)",
        "",
        "| path | p50 | p90 |",
        "|---|---|---|",
        *(f"| {name} | {figures['p50']:.1f} | {figures['p90']:.1f} |" for name, figures in lat.items()),
        "",
        f"Cost of the hop: p50 {lat[cluster_name]['p50'] - lat[single_name]['p50']:+.1f} ms, "
        f"p90 {lat[cluster_name]['p90'] - lat[single_name]['p90']:+.1f} ms.",
        "",
        f"### Throughput, executions/s ({args.requests} requests per cell)",
        "",
        "| concurrency | cluster, 1 worker | cluster, 2 workers | 2 / 1 | single process |",
        "|---|---|---|---|---|",
    ]
    for level in args.concurrency:
        one, two = rates[("cluster, 1 worker", level)], rates[("cluster, 2 workers", level)]
        lines.append(f"| {level} | {one:.2f} | {two:.2f} | {two / one:.2f} | {rates[('single process', level)]:.2f} |")
    lines += [
        "",
        f"Containers still there at the end (then removed): the cluster's after `down` {len(left_cluster)}, "
        f"the single process's after SIGTERM {len(left_single)}.",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30, help="latency samples per path in each round")
    parser.add_argument("--rounds", type=int, default=3, help="latency rounds (the table shows their median)")
    parser.add_argument("--requests", type=int, default=40, help="executions per throughput cell")
    parser.add_argument(
        "--concurrency", type=int, nargs="+", default=[4, 8], help="throughput concurrency levels (default 4 8)"
    )
    parser.add_argument("--pool-size", type=int, default=2, help="warm containers per pool, both paths")
    asyncio.run(main(parser.parse_args()))
