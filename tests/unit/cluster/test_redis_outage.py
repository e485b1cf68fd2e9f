"""Redis stops: a replica's calls answer 503 (``DispatchUnavailable``) at once, and work again once it is back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.cluster.localservers import LocalRedis, free_port
from sandbox.errors import DispatchUnavailable
from tests.unit.cluster.harness import make_worker, ok, replica, running, settings, spec, wait_for

pytestmark = pytest.mark.anyio


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[LocalRedis]:
    server = LocalRedis(tmp_path / "redis", free_port()).start()
    try:
        yield server
    finally:
        server.stop()


async def test_calls_fail_fast_while_redis_is_down_and_recover(own_redis: LocalRedis) -> None:
    config = settings(own_redis.url, redis_timeout_s=0.5)
    worker, _ = make_worker(config, lambda s: ok(b"up"))
    async with running(worker), replica(config) as backend:
        assert (await backend.run(spec())).stdout == b"up"
        own_redis.stop()
        await asyncio.sleep(config.worker_heartbeat_s * 2)  # past the replica's cache of live workers
        for call in (backend.run(spec()), backend.ping(), backend.shared_sessions("k"), backend.submit("run", spec())):
            began = time.monotonic()
            with pytest.raises(DispatchUnavailable):
                await asyncio.wait_for(call, 10)
            assert time.monotonic() - began < 3.0
        assert DispatchUnavailable.retry_after_s > 0

        own_redis.start()  # empty again (no persistence): the worker re-creates the group and beats again

        async def works() -> bool:
            try:
                return (await asyncio.wait_for(backend.run(spec()), 5)).stdout == b"up"
            except DispatchUnavailable:
                return False

        await wait_for(works, 20, "runs to work again")
