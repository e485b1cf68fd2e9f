"""Cancellation always ends the loops around Redis, wherever it lands (redis-py can swallow one).

Each test cancels at many random moments: before the fix (``raise_if_cancelled``) about one
cancellation in six that landed inside a redis-py command was lost and the task ran on forever.
"""

from __future__ import annotations

import asyncio
import random
import uuid

import pytest

from sandbox.cluster.dispatch import calls_key
from tests.unit.cluster.harness import make_worker, ok, replica, running, settings, spec

pytestmark = pytest.mark.anyio


async def test_a_cancelled_follow_always_ends(redis_url: str) -> None:
    config = settings(redis_url, queue_timeout_s=60, worker_heartbeat_s=0.05)
    async with replica(config) as backend:
        for steps in [*range(40), *(random.randrange(400) for _ in range(20))]:
            follow = asyncio.create_task(backend.follow(uuid.uuid4().hex, None))  # a job nobody runs
            for _ in range(steps):  # lands at every point of its first Redis commands
                await asyncio.sleep(0)
            follow.cancel()
            done, _ = await asyncio.wait([follow], timeout=3)
            assert done, "a cancelled follow() went on reading"
            assert follow.cancelled()


async def test_a_worker_always_drains(redis_url: str) -> None:
    """``running`` fails if the drain (which cancels the worker's loops) does not end within 10 s."""
    config = settings(redis_url, worker_heartbeat_s=0.02)
    for _ in range(15):
        worker, _ = make_worker(config, lambda s: ok())
        async with running(worker):
            await asyncio.sleep(random.uniform(0, 0.1))


async def test_a_malformed_call_does_not_stop_the_calls_loop(redis_url: str) -> None:
    config = settings(redis_url)
    worker, _ = make_worker(config, lambda s: ok(b"cell"))
    async with running(worker), replica(config) as backend:
        session = await backend.open_session(spec(mode="session"), 60)
        for junk in ({"call": "not json"}, {"other": "x"}, {"call": '["list"]'}, {"call": '{"no": "job"}'}):
            await backend.redis.xadd(calls_key(worker.name), junk)  # type: ignore[arg-type]
        job = await backend.redis.xadd(calls_key(worker.name), {"call": '{"job": "j1", "call": "list"}'})
        assert job
        await asyncio.sleep(0.3)
        async with session.acquire() as lease:
            assert (await asyncio.wait_for(lease.run(spec(mode="cell")), 5)).stdout == b"cell"
        await session.put_file("f", b"1")
        assert await session.get_file("f") == b"1"
        await session.close()
