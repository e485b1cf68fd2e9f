"""A real DockerBackend's warm pool sizing itself: it grows under concurrent load, its hit ratio rises,
and it shrinks back to its minimum (its containers removed) once the load stops."""

from __future__ import annotations

import asyncio
import time

import pytest

from sandbox.engine.hardening import LABEL_OWNER
from sandbox.models import ExecutionRequest, Status

pytestmark = pytest.mark.anyio
CLIENTS = 3
ROUNDS = 6


async def test_the_pool_grows_under_load_and_shrinks_when_idle(settings, service_factory, docker_client) -> None:
    sized = settings.model_copy(
        update={
            "pool_size": 1,
            "pool_max": 4,
            "pool_shrink_after_s": 2.0,
            "pool_miss_wait_s": 0.0,  # a miss goes cold at once: hits are hits
            "max_concurrency": 4,
        }
    )
    svc = service_factory(sized, warm=True)
    async with svc:
        backend = svc.backend
        pool = backend.pool(svc.planner.default_profile("python"))
        assert pool is not None and pool.target == 1
        assert await pool.wait_ready(timeout=60)
        hits: list[int] = []
        for _ in range(ROUNDS):  # a steady load: rounds of 3 concurrent runs, each after the pool refilled
            before = pool.stats.hits
            results = await asyncio.gather(*(svc.execute(ExecutionRequest(code="print(1)")) for _ in range(CLIENTS)))
            assert [r.status for r in results] == [Status.OK] * CLIENTS
            hits.append(pool.stats.hits - before)
            assert await pool.wait_ready(timeout=60), pool.stats
        assert hits[0] == 1, "the pool of 1 served one run of the first round"
        assert pool.target >= CLIENTS, f"the pool did not grow: target {pool.target}"
        assert sum(hits[-2:]) == 2 * CLIENTS, f"hits per round {hits}: the grown pool should serve every run"
        (report,) = backend.pools()
        assert (report.minimum, report.maximum) == (1, 4) and report.target == pool.target
        assert report.hit_ratio is not None and report.hit_ratio > hits[0] / CLIENTS

        # Idle: each period gives back half of what went unused, down to the minimum; the surplus is removed.
        deadline = time.monotonic() + 30
        while pool.target > 1 or pool.stats.ready > 1:
            assert time.monotonic() < deadline, f"the idle pool did not shrink: target {pool.target}, {pool.stats}"
            await asyncio.sleep(0.2)
        owner = {"label": f"{LABEL_OWNER}={backend.owner}"}
        while len(docker_client.api.containers(all=True, filters=owner)) > 1:
            assert time.monotonic() < deadline, "the surplus warm containers were not removed"
            await asyncio.sleep(0.2)
