"""Pool bench: the warm pool's hit ratio under a steady load, window by window.

Run from the project root:  .venv/bin/python bench/pool_bench.py [--seconds 60] [--clients 4]

``--clients`` in-process clients each run hello world through ``ExecutionService.execute``
(the service composed as ``bench/engine_bench.py`` composes it, with the product's settings
unless overridden: ``--set pool_max=8``) back to back, for ``--seconds``. Every ``--window``
seconds the pool's hits and misses since the last window are printed with the pool's ready
count and target, so one can watch it adapt. The verdict line is the hit ratio over the
windows after ``--adapt`` seconds (the issue's target: at least 0.9 with 4 clients). Every
container carries this run's owner label and is removed at the end; the bench asserts it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from typing import Any

import docker

from sandbox.config import Settings
from sandbox.engine import DockerBackend
from sandbox.engine.hardening import LABEL_OWNER
from sandbox.engine.pool import WarmPool
from sandbox.engine.wrappers import Wrapper
from sandbox.models import ExecutionRequest, Status
from sandbox.service import ExecutionService, build_service

OWNER = f"poolbench-{uuid.uuid4().hex[:8]}"
REQUEST = ExecutionRequest(code="print('hello world')")


def docker_backend(service: ExecutionService) -> DockerBackend:
    backend = service.backend
    while isinstance(backend, Wrapper):  # the breaker and metering wrap the Docker backend
        backend = backend.inner
    assert isinstance(backend, DockerBackend)
    return backend


async def bench(args: argparse.Namespace, overrides: dict[str, Any]) -> float:
    settings = Settings().model_copy(update=overrides)
    service = build_service(settings, backend=DockerBackend(settings, owner=OWNER))
    await service.start()
    try:
        pool = docker_backend(service).pool(service.planner.default_profile("python"))
        assert pool is not None, "no python pool: is pool_size 0 or python not in pool_languages?"
        await pool.wait_ready(timeout=120)
        return await drive(service, pool, args)
    finally:
        await service.aclose()


async def drive(service: ExecutionService, pool: WarmPool[Any], args: argparse.Namespace) -> float:
    latencies: list[float] = []
    stop = time.monotonic() + args.seconds

    async def client(offset: float) -> None:
        due = time.monotonic() + offset
        while time.monotonic() < stop:
            if args.rate > 0:  # paced: one run every 1/rate s (at once when the last one overran)
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                due = max(due + 1 / args.rate, time.monotonic())
            began = time.perf_counter()
            result = await service.execute(REQUEST)
            if result.status is not Status.OK or result.stdout != "hello world\n":
                raise RuntimeError(f"{result.status}: {result.message} {result.stderr[-300:]}")
            latencies.append((time.perf_counter() - began) * 1000)

    spread = 1 / (args.rate * args.clients) if args.rate > 0 else 0.0
    clients = [asyncio.create_task(client(i * spread)) for i in range(args.clients)]
    print(
        f"{'t (s)':>6} {'runs':>5} {'hits':>5} {'miss':>5} {'waited':>6} {'hit ratio':>9} {'served':>6} "
        f"{'p50 ms':>7} {'ready':>5} {'target':>6}"
    )
    began, last, seen = time.monotonic(), pool.stats, 0
    adapted = [0, 0, 0]
    while not all(task.done() for task in clients):
        await asyncio.wait(clients, timeout=args.window)
        now, stats = time.monotonic() - began, pool.stats
        hits, misses, waited = stats.hits - last.hits, stats.misses - last.misses, stats.waited - last.waited
        window = latencies[seen:]
        seen, last = len(latencies), stats
        ratio = hits / (hits + misses) if hits + misses else float("nan")
        served = (hits + waited) / (hits + misses) if hits + misses else float("nan")
        p50 = statistics.median(window) if window else float("nan")
        print(
            f"{now:6.1f} {len(window):5d} {hits:5d} {misses:5d} {waited:6d} {ratio:9.2f} {served:6.2f} {p50:7.1f} "
            f"{stats.ready:5d} {pool.target:6d}",
            flush=True,
        )
        if now > args.adapt:
            adapted = [adapted[0] + hits, adapted[1] + misses, adapted[2] + waited]
    for task in clients:
        task.result()  # a failed run fails the bench
    total = pool.stats
    takes = adapted[0] + adapted[1]
    ratio = adapted[0] / takes if takes else float("nan")
    served = (adapted[0] + adapted[2]) / takes if takes else float("nan")
    print(
        f"all: {len(latencies)} runs, p50 {statistics.median(latencies):.1f} ms, hits {total.hits}, misses "
        f"{total.misses} ({total.waited} of them served by a creation under way), created {total.created}\n"
        f"after {args.adapt:g} s: hit ratio {ratio:.3f} ({adapted[0]}/{takes}) "
        f"{'PASS' if ratio >= 0.9 else 'FAIL'} (target >= 0.9); served by the pool {served:.3f}"
    )
    return ratio


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the load (default 60)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients (default 4)")
    parser.add_argument("--rate", type=float, default=0.0, help="runs per second per client (default 0: back to back)")
    parser.add_argument("--window", type=float, default=5.0, help="seconds per reported window (default 5)")
    parser.add_argument("--adapt", type=float, default=15.0, help="seconds left out of the verdict (default 15)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=JSON", help="a setting override, e.g. pool_max=8"
    )
    args = parser.parse_args()
    overrides = {name: json.loads(value) for name, _, value in (item.partition("=") for item in args.set)}
    print(f"pool bench owner={OWNER} nproc={os.cpu_count()} load={os.getloadavg()} overrides={overrides}")
    try:
        asyncio.run(bench(args, {"validation_workers": 0, **overrides}))
    finally:
        client = docker.from_env()
        ours = client.api.containers(all=True, filters={"label": f"{LABEL_OWNER}={OWNER}"})
        assert not ours, f"containers of this run left behind: {[c['Id'][:12] for c in ours]}"
    return 0


if __name__ == "__main__":
    sys.exit(main())
