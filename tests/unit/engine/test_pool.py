"""The warm pool, driven by plain async create/destroy functions."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from types import SimpleNamespace

import pytest

import sandbox.engine.pool as pool_module
from sandbox.engine.pool import WarmPool
from sandbox.engine.sizing import Demand

pytestmark = pytest.mark.anyio


class Factory:
    """Counts creations and destructions; items are consecutive integers."""

    def __init__(self, *, fail_first: int = 0, fail_always: bool = False, delay: float = 0.0) -> None:
        self.ids = itertools.count()
        self.created: list[int] = []
        self.destroyed: list[int] = []
        self.attempts: list[float] = []
        self.fail_first = fail_first
        self.fail_always = fail_always
        self.delay = delay
        self.gate: asyncio.Event | None = None

    async def create(self) -> int:
        self.attempts.append(time.monotonic())
        if self.gate is not None:
            await self.gate.wait()
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail_always or len(self.attempts) <= self.fail_first:
            raise RuntimeError("engine says no")
        item = next(self.ids)
        self.created.append(item)
        return item

    async def destroy(self, item: int) -> None:
        self.destroyed.append(item)


def make_pool(factory: Factory, size: int = 3, max_idle_s: float = 60.0, limit: int = 2) -> WarmPool[int]:
    return WarmPool(
        "test",
        factory.create,
        factory.destroy,
        demand=Demand.fixed(size),
        max_idle_s=max_idle_s,
        refill_limit=asyncio.Semaphore(limit),
    )


async def eventually(predicate, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


async def test_fills_to_size_in_the_background() -> None:
    factory = Factory()
    pool = make_pool(factory, size=3)
    assert pool.stats.ready == 0
    pool.start()
    assert await pool.wait_ready(timeout=2)
    await asyncio.sleep(0.05)  # and no more than size
    assert factory.created == [0, 1, 2]
    assert pool.stats.ready == 3 and pool.stats.created == 3
    await pool.aclose()


async def test_start_does_not_block_and_is_idempotent() -> None:
    factory = Factory(delay=0.05)
    pool = make_pool(factory, size=2)
    pool.start()
    pool.start()
    assert factory.created == [], "start() must return before anything is created"
    assert await pool.wait_ready(timeout=2)
    assert len(factory.created) == 2
    await pool.aclose()


async def test_take_never_waits_and_returns_none_when_empty() -> None:
    factory = Factory()
    factory.gate = asyncio.Event()  # creations hang until released
    pool = make_pool(factory, size=2)
    pool.start()
    await eventually(lambda: pool.stats.creating > 0)
    started = time.monotonic()
    assert pool.take() is None
    assert time.monotonic() - started < 0.5  # the creation would block forever
    assert pool.stats.misses == 1 and pool.stats.hits == 0
    factory.gate.set()
    await pool.aclose()


async def test_take_hands_each_item_out_once_and_replenish_refills() -> None:
    factory = Factory()
    pool = make_pool(factory, size=2)
    pool.start()
    assert await pool.wait_ready(timeout=2)
    first = pool.take()
    assert first in (0, 1)
    assert pool.stats.hits == 1
    pool.replenish()
    await eventually(lambda: pool.stats.ready == 2)
    assert len(factory.created) == 3
    taken = [first, pool.take(), pool.take()]
    assert None not in taken
    assert len(set(taken)) == 3, "an item was handed out twice"
    pool.replenish()
    pool.replenish()  # idempotent
    await eventually(lambda: pool.stats.ready == 2)
    await asyncio.sleep(0.02)
    assert len(factory.created) == 5
    await pool.aclose()
    assert set(factory.destroyed) == set(factory.created) - set(taken), "taken items belong to the caller"


async def test_a_hit_does_not_refill_until_replenish() -> None:
    """The caller's run gets the CPU first; the refill waits for replenish()."""
    factory = Factory()
    pool = make_pool(factory, size=2)
    pool.start()
    assert await pool.wait_ready(timeout=2)
    assert pool.take() is not None
    await asyncio.sleep(0.1)
    assert len(factory.attempts) == 2
    assert pool.stats.ready == 1
    pool.replenish()
    await eventually(lambda: pool.stats.ready == 2)
    await pool.aclose()


async def test_a_miss_starts_the_refill_at_once() -> None:
    factory = Factory()
    pool = make_pool(factory, size=1)
    pool.start()
    assert await pool.wait_ready(timeout=2)
    assert pool.take() == 0
    await asyncio.sleep(0.05)
    assert pool.stats.ready == 0
    assert pool.take() is None  # a miss: the pool is behind, refill now
    await eventually(lambda: pool.stats.ready == 1)
    assert pool.take() == 1
    await pool.aclose()


async def test_size_zero_never_creates() -> None:
    factory = Factory()
    pool = make_pool(factory, size=0)
    pool.start()
    await asyncio.sleep(0.02)
    assert pool.take() is None
    assert factory.attempts == []
    await pool.aclose()


async def test_items_older_than_max_idle_are_destroyed_not_handed_out(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = SimpleNamespace(offset=0.0)
    fake_time = SimpleNamespace(monotonic=lambda: time.monotonic() + clock.offset)
    monkeypatch.setattr(pool_module, "time", fake_time)  # only the pool's view of time moves

    factory = Factory()
    pool = make_pool(factory, size=2, max_idle_s=10)
    pool.start()
    assert await pool.wait_ready(timeout=2)
    stale = set(factory.created)

    clock.offset = 11.0  # every ready item is now older than max_idle_s
    item = pool.take()
    assert item not in stale
    await eventually(lambda: stale <= set(factory.destroyed))
    assert pool.stats.recycled >= 2
    await eventually(lambda: pool.stats.ready == 2)
    fresh = pool.take()
    assert fresh is not None and fresh not in stale
    await pool.aclose()


async def test_idle_items_are_replaced_in_the_background() -> None:
    factory = Factory()
    pool = make_pool(factory, size=1, max_idle_s=0.1)
    pool.start()
    assert await pool.wait_ready(timeout=2)
    await eventually(lambda: 0 in factory.destroyed, timeout=2)
    await eventually(lambda: pool.stats.ready == 1)
    assert pool.stats.recycled >= 1
    item = pool.take()
    assert item != 0
    await pool.aclose()


async def test_failures_back_off_and_are_counted() -> None:
    factory = Factory(fail_always=True)
    pool = make_pool(factory, size=1)
    pool.start()
    await eventually(lambda: len(factory.attempts) >= 3, timeout=5)
    first, second, third = factory.attempts[:3]
    # No hot loop: 0.25 s after the first failure, then doubling.
    assert second - first >= 0.2
    assert third - second >= 0.45
    assert pool.stats.failures == len(factory.attempts)
    assert pool.stats.ready == 0 and pool.take() is None
    await pool.aclose()


async def test_recovers_after_failures() -> None:
    factory = Factory(fail_first=1)
    pool = make_pool(factory, size=2, limit=1)
    pool.start()
    assert await pool.wait_ready(timeout=3)
    assert pool.stats.failures == 1
    assert pool.stats.ready == 2
    await pool.aclose()


async def test_refill_limit_bounds_parallel_creations() -> None:
    running = 0
    peak = 0

    async def create() -> object:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.02)
        running -= 1
        return object()

    async def destroy(item: object) -> None:
        pass

    limit = asyncio.Semaphore(2)
    pools = [
        WarmPool(f"p{i}", create, destroy, demand=Demand.fixed(3), max_idle_s=60, refill_limit=limit) for i in range(2)
    ]
    for p in pools:
        p.start()
    for p in pools:
        assert await p.wait_ready(timeout=2)
    assert peak == 2
    for p in pools:
        await p.aclose()


async def test_aclose_destroys_ready_items_and_stops_refilling() -> None:
    factory = Factory()
    pool = make_pool(factory, size=3)
    pool.start()
    assert await pool.wait_ready(timeout=2)
    await pool.aclose()
    assert sorted(factory.destroyed) == sorted(factory.created) == [0, 1, 2]
    assert pool.take() is None
    await asyncio.sleep(0.05)
    assert len(factory.created) == 3, "refilled after aclose"
    assert await pool.wait_ready(timeout=0.1) is False


async def test_aclose_tolerates_destroy_failures() -> None:
    factory = Factory()

    async def destroy(item: int) -> None:
        factory.destroyed.append(item)
        raise RuntimeError("already gone")

    pool = WarmPool(
        "t", factory.create, destroy, demand=Demand.fixed(2), max_idle_s=60, refill_limit=asyncio.Semaphore(2)
    )
    pool.start()
    assert await pool.wait_ready(timeout=2)
    await pool.aclose()
    assert sorted(factory.destroyed) == [0, 1]


async def test_aclose_during_a_threaded_creation_leaks_nothing() -> None:
    entered, release = threading.Event(), threading.Event()
    created: list[int] = []
    destroyed: list[int] = []

    def create_blocking() -> int:
        entered.set()
        release.wait(5)
        created.append(len(created))
        return created[-1]

    async def create() -> int:
        return await asyncio.to_thread(create_blocking)

    async def destroy(item: int) -> None:
        destroyed.append(item)

    pool = WarmPool("t", create, destroy, demand=Demand.fixed(1), max_idle_s=60, refill_limit=asyncio.Semaphore(1))
    pool.start()
    await eventually(entered.is_set)
    await pool.aclose()
    release.set()
    await eventually(lambda: bool(created))
    await asyncio.sleep(0.05)
    assert destroyed == created
