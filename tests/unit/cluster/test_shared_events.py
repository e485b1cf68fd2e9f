"""An execution's events mirrored to Redis and read back through another replica's ``SharedEvents``."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
import redis.asyncio as aioredis

from sandbox.cluster.events import SharedEvents, events_key
from sandbox.config import Settings
from sandbox.engine import FakeBackend
from sandbox.errors import NotFound
from sandbox.executions import ExecutionManager
from sandbox.models import Caller, ExecutionRecord, ExecutionRequest
from sandbox.service import ExecutionService
from sandbox.store import Store
from sandbox.validation import PolicySet
from tests.unit.cluster.harness import CATALOG, ok

pytestmark = pytest.mark.anyio


async def test_events_are_read_through_another_instance_with_resume_and_owner_check(
    redis_url: str, tmp_path: Path
) -> None:
    config = Settings(validation_workers=0)
    store = Store(f"sqlite:///{tmp_path}/db.sqlite")
    policies = PolicySet(config.policies_dir, config.default_policy)
    service = ExecutionService(config, FakeBackend(lambda s: ok(b"hello\n", b"warn\n")), CATALOG, policies, store=store)
    service.shared_events = SharedEvents(aioredis.Redis.from_url(redis_url))
    manager = ExecutionManager(service)
    reader = SharedEvents(aioredis.Redis.from_url(redis_url))
    key = Caller.of(store.create_key("k", "standard", 4, 1000)[0])
    other = Caller.of(store.create_key("other", "standard", 4, 1000)[0])
    try:
        execution = await manager.submit(ExecutionRequest(code="print('hello')"), key)
        with anyio.fail_after(5):
            local = [event async for event in execution.stream()]
            while await reader.redis.xlen(events_key(execution.id)) < len(local) + 1:
                await anyio.sleep(0.02)
        assert local[-1].kind == "result"

        assert await reader.published(execution.id, key.key_id) == len(local)
        with anyio.fail_after(5):
            remote = [event async for event in reader.stream(execution.id)]
        assert [e.kind for e in remote] == [e.kind for e in local]
        assert isinstance(remote[-1].data, ExecutionRecord)
        assert remote[-1].data == execution.view
        assert [e.data for e in remote[:-1]] == [e.data for e in local[:-1]]

        with anyio.fail_after(5):
            resumed = [event async for event in reader.stream(execution.id, after=len(local) - 1)]
        assert [e.kind for e in resumed] == ["result"]

        with pytest.raises(NotFound):
            await reader.published(execution.id, other.key_id)
        with pytest.raises(NotFound):
            await reader.published("no-such-execution", key.key_id)
    finally:
        await reader.aclose()
        await manager.aclose()
        await service.aclose()
        store.close()
