"""Runtime benchmark: warm and cold latency of the engine under runc or under gVisor (runsc).

Run from the project root, with runsc registered (``SANDBOX_RUNTIME=runsc ./scripts/install``),
alternating runtimes in separate processes (``bench/RESULTS.md`` has the loop):

    .venv/bin/python bench/runtime_bench.py --runtime runsc --path warm [--rounds N]

Hello world, N times, through the product's composition (``build_service``): ``warm``
takes a container from a warm pool of 2 (each sample waits until the pool is full
again, so every warm sample is a hit), ``cold`` has no pool and creates, starts and
greets a container for the run. Figures are the caller's end-to-end time. One service
per process: a backend's janitor takes another backend's containers in the same
process for this instance's orphans. All containers go when the service closes.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

from sandbox.config import Settings
from sandbox.engine import DockerBackend
from sandbox.engine.pool import WarmPool
from sandbox.engine.wrappers import Wrapper
from sandbox.models import ExecutionRequest, Status
from sandbox.service import ExecutionService, build_service

REQUEST = ExecutionRequest(code="print('hello world')")


def compose(runtime: str, pool_size: int) -> ExecutionService:
    settings = Settings(runtime=None if runtime == "runc" else runtime, pool_size=pool_size)
    owner = f"rtbench-{runtime}-{pool_size}-{uuid.uuid4().hex[:6]}"
    return build_service(settings, backend=DockerBackend(settings, owner=owner))


def pool_of(service: ExecutionService) -> WarmPool[Any] | None:
    backend = service.backend
    while isinstance(backend, Wrapper):
        backend = backend.inner
    assert isinstance(backend, DockerBackend)
    return backend.pool(service.planner.default_profile("python")) if service.settings.pool_size else None


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def run(rounds: int, runtime: str, path: str) -> list[float]:
    service = compose(runtime, 2 if path == "warm" else 0)
    samples = []
    await service.start()
    try:
        pool = pool_of(service)
        for _ in range(rounds):
            if pool is not None and not await pool.wait_ready(timeout=120):
                raise RuntimeError("the warm pool did not refill")
            started = time.perf_counter()
            result = await service.execute(REQUEST)
            elapsed = (time.perf_counter() - started) * 1000
            if result.status is not Status.OK or result.stdout != "hello world\n":
                raise RuntimeError(f"{runtime} {path}: {result.status.value} {result.message}")
            samples.append(elapsed)
            await asyncio.sleep(0.2)  # the previous container's removal is under way, not in the next sample
    finally:
        await service.aclose()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--runtime", default="runc", help="runc (the engine's default) or a registered runtime")
    parser.add_argument("--path", choices=("warm", "cold"), default="warm")
    args = parser.parse_args()
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    values = asyncio.run(run(args.rounds, args.runtime, args.path))
    p50, p95 = statistics.median(values), percentile(values, 0.95)
    print(
        f"| {args.runtime} | {args.path} | {len(values)} | {p50:.1f} | {p95:.1f} | {statistics.fmean(values):.1f} "
        f"| {load} | {platform.release()} |"
    )


if __name__ == "__main__":
    main()
