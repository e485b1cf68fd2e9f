"""Preload benchmark: warm hello world in python and javascript, with and without the JS preload.

Run from the project root (SANDBOX_IMAGE_PREFIX as for the images you built):

    .venv/bin/python bench/preload_bench.py [--rounds N] [--pool N]

One service (``build_service``) keeps warm pools of python, javascript (with its
declared preload) and javascript without it (the same image and request, the
spec's ``preload`` emptied: the normal ``node main.js`` spawn). Each round runs
the paths in rotating order, each waiting until its pool is full again, so every
sample is a warm hit. Figures: the caller's end-to-end time of ``backend.run``
(planned specs, no validation), and the runner's own wall_ms and cpu_ms.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

from sandbox.config import Settings
from sandbox.engine import Bounds, DockerBackend, RunSpec
from sandbox.engine.wrappers import Wrapper
from sandbox.models import ExecutionRequest, Status
from sandbox.service import build_service

CODE = {"python": "print('hello world')", "javascript": "console.log('hello world')"}


def backend_of(service: Any) -> DockerBackend:
    backend = service.backend
    while isinstance(backend, Wrapper):
        backend = backend.inner
    assert isinstance(backend, DockerBackend)
    return backend


async def run(rounds: int, pool: int) -> dict[str, list[tuple[float, int, int]]]:
    settings = Settings(pool_size=0)
    owner = f"preload-bench-{uuid.uuid4().hex[:6]}"
    service = build_service(settings, backend=DockerBackend(settings, owner=owner))
    await service.start()
    backend = backend_of(service)
    policy = service.policies.get(None)
    specs: dict[str, RunSpec] = {}
    for language in ("python", "javascript"):
        specs[language] = service.planner.plan(ExecutionRequest(language=language, code=CODE[language]), policy)
    if getattr(specs["javascript"], "preload", ()):
        specs["javascript (no preload)"] = dataclasses.replace(specs["javascript"], preload=())
    samples: dict[str, list[tuple[float, int, int]]] = {name: [] for name in specs}
    try:
        for spec in specs.values():
            backend.warm(spec.profile, Bounds(pool, pool))
        names = list(specs)
        for index in range(rounds):
            order = names[index % len(names) :] + names[: index % len(names)]
            for name in order:
                spec = specs[name]
                warm = backend.pool(spec.profile)
                assert warm is not None
                if not await warm.wait_ready(timeout=120):
                    raise RuntimeError(f"the warm pool of {name} did not refill: {warm.stats}")
                await asyncio.sleep(1.0)  # the refill's preload (if any) is up; earlier removals are done
                started = time.perf_counter()
                outcome = await backend.run(spec)
                elapsed = (time.perf_counter() - started) * 1000
                if outcome.status is not Status.OK or outcome.stdout != b"hello world\n":
                    raise RuntimeError(f"{name}: {outcome.status.value} {outcome.message} {outcome.stderr[-500:]!r}")
                samples[name].append((elapsed, outcome.wall_ms, outcome.cpu_ms))
    finally:
        await service.aclose()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--pool", type=int, default=2)
    args = parser.parse_args()
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    samples = asyncio.run(run(args.rounds, args.pool))
    python = statistics.median(s[0] for s in samples["python"])
    print(f"load {load}; {args.rounds} interleaved rounds, warm pools of {args.pool}")
    print("| path | n | p50 ms | p90 ms | runner wall_ms p50 | runner cpu_ms p50 | p50 / python |")
    print("|---|---|---|---|---|---|---|")
    for name, values in samples.items():
        ends = sorted(s[0] for s in values)
        p50 = statistics.median(ends)
        p90 = ends[min(len(ends) - 1, round(0.9 * (len(ends) - 1)))]
        wall = statistics.median(s[1] for s in values)
        cpu = statistics.median(s[2] for s in values)
        print(f"| {name} | {len(values)} | {p50:.1f} | {p90:.1f} | {wall:.0f} | {cpu:.0f} | {p50 / python:.2f} |")


if __name__ == "__main__":
    main()
