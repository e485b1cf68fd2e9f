"""Pools that size themselves: a WarmPool following its Demand, misses that wait, and a PoolSet's shared cap."""

from __future__ import annotations

import asyncio
import time

import pytest

from sandbox.engine.pool import WarmPool
from sandbox.engine.pools import PoolSet
from sandbox.engine.sizing import Bounds, Demand, RefillGate
from tests.unit.engine.test_pool import Factory, eventually

pytestmark = pytest.mark.anyio
PROFILE = ("img:1", 256, 64, 64, 1.0, False, ())
OTHER = ("img:1", 128, 64, 64, 1.0, False, ())


def adaptive(factory: Factory, bounds: Bounds, *, shrink_after_s: float = 60.0, **options: object) -> WarmPool[int]:
    return WarmPool(
        "test",
        factory.create,
        factory.destroy,
        demand=Demand(bounds, shrink_after_s=shrink_after_s),
        max_idle_s=60.0,
        refill_limit=asyncio.Semaphore(2),
        **options,  # type: ignore[arg-type]
    )


async def test_misses_grow_the_pool_and_it_fills_to_its_new_target() -> None:
    factory = Factory()
    pool = adaptive(factory, Bounds(1, 3))
    pool.start()
    assert await pool.wait_ready(timeout=2) and pool.target == 1
    assert pool.take() is not None
    assert pool.take() is None and pool.take() is None and pool.take() is None  # grows by one per miss, to 3
    assert pool.target == 3
    await eventually(lambda: pool.stats.ready == 3)
    await asyncio.sleep(0.05)
    assert len(factory.created) == 4, "filled to the maximum, no further"
    await pool.aclose()


async def test_an_unused_pool_shrinks_to_its_minimum_and_destroys_the_surplus() -> None:
    factory = Factory()
    pool = adaptive(factory, Bounds(1, 4), shrink_after_s=0.1)
    pool.start()
    for _ in range(3):
        pool.take()
    await eventually(lambda: pool.stats.ready == 4)
    while pool.target > 1:  # what the sizing loop does: close the periods, apply the target
        await asyncio.sleep(0.05)
        if pool.demand.tick():
            pool.replenish()
    await eventually(lambda: pool.stats.ready == 1 and len(factory.destroyed) == 3)
    assert pool.stats.recycled == 3
    await pool.aclose()


async def test_a_miss_waits_for_the_creation_under_way_instead_of_going_cold() -> None:
    factory = Factory(delay=0.1)
    pool = adaptive(factory, Bounds(1, 2))
    pool.start()
    await eventually(lambda: pool.stats.creating == 1)
    started = time.monotonic()
    item = await pool.take_or_wait(2.0)
    assert item == 0 and time.monotonic() - started < 1.0
    assert (pool.stats.misses, pool.stats.waited, pool.stats.ready) == (1, 1, 0)
    await pool.aclose()


async def test_a_miss_with_nothing_coming_goes_cold_at_once() -> None:
    factory = Factory(fail_always=True)
    pool = adaptive(factory, Bounds(0, 0))  # never creates: nothing will come
    pool.start()
    started = time.monotonic()
    assert await pool.take_or_wait(2.0) is None
    assert time.monotonic() - started < 0.1
    factory = Factory()
    factory.gate = asyncio.Event()  # a creation that never ends: the wait is bounded
    slow = adaptive(factory, Bounds(1, 1))
    slow.start()
    await eventually(lambda: slow.stats.creating == 1)
    waiters = await asyncio.gather(slow.take_or_wait(0.1), slow.take_or_wait(0.1))
    assert waiters == [None, None]  # the second did not even wait: the one creation was promised
    factory.gate.set()
    await pool.aclose()
    await slow.aclose()


async def test_a_waiter_cancelled_as_its_item_arrives_leaks_nothing() -> None:
    release = asyncio.Event()
    destroyed: list[int] = []
    waiter: asyncio.Task[int | None] | None = None

    async def create() -> int:
        await release.wait()
        assert waiter is not None
        waiter.cancel()  # the taker goes away in the very step its item is handed over
        return 7

    async def destroy(item: int) -> None:
        destroyed.append(item)

    pool = WarmPool("t", create, destroy, demand=Demand.fixed(1), max_idle_s=60.0, refill_limit=asyncio.Semaphore(1))
    pool.start()
    await eventually(lambda: pool.stats.creating == 1)
    waiter = asyncio.create_task(pool.take_or_wait(5.0))
    await asyncio.sleep(0.01)
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await eventually(lambda: destroyed == [7])
    assert pool.stats.ready == 0, "the item was neither leaked nor parked for another run"
    await pool.aclose()


async def test_the_gate_holds_refills_while_runs_start() -> None:
    factory = Factory()
    pool = adaptive(factory, Bounds(1, 1), gate=RefillGate(0.2, max_defer_s=0.8))
    pool.start()
    assert await pool.wait_ready(timeout=2)
    taken = time.monotonic()
    assert pool.take() is not None
    pool.replenish()
    await eventually(lambda: len(factory.attempts) == 2)
    assert factory.attempts[1] - taken >= 0.18, "the refill started while the run was starting"
    await pool.aclose()


def pool_set(
    factory: Factory, *, capacity: int = 8, on_demand_uses: int = 2, shrink_after_s: float = 60.0
) -> PoolSet[int]:
    return PoolSet(
        lambda profile: factory.create,
        factory.destroy,
        capacity=capacity,
        default_maximum=4,
        shrink_after_s=shrink_after_s,
        on_demand_uses=on_demand_uses,
        max_idle_s=60.0,
        refill_limit=asyncio.Semaphore(2),
        gate=RefillGate(0.0, 0.0),
    )


async def test_limits_used_repeatedly_get_an_on_demand_pool_dropped_when_idle() -> None:
    factory = Factory()
    pools = pool_set(factory, shrink_after_s=0.2)
    pools.start()
    assert pools.for_run(OTHER) is None, "one use is no reason for a pool"
    pool = pools.for_run(OTHER)
    assert pool is not None and pool.target == 0
    assert pool.take() is None and pool.target == 1  # the run that opened it misses: it wants one
    await eventually(lambda: pool.stats.ready == 1)
    [report] = pools.reports()
    assert (report.minimum, report.maximum, report.target, report.ready) == (0, 4, 1, 1)
    assert report.name.startswith("img:1/128m/"), "an on-demand pool's name tells its other limits apart"
    await eventually(lambda: pools.get(OTHER) is None, timeout=3)  # idle: shrunk to 0, then dropped
    await eventually(lambda: factory.destroyed == factory.created)
    assert pools.for_run(OTHER) is None, "a dropped pool starts counting again"
    await pools.aclose()


async def test_a_standing_pool_shrinks_back_to_its_minimum_when_idle() -> None:
    factory = Factory()
    pools = pool_set(factory, shrink_after_s=0.2)
    pools.start()
    pool = pools.add(PROFILE, Bounds(1, 4))
    assert pool is not None and await pool.wait_ready(timeout=2)
    for _ in range(4):
        pool.take()  # one hit, three misses: it wants 4
    await eventually(lambda: pool.stats.ready == 4)
    await eventually(lambda: pool.target == 1 and pool.stats.ready == 1, timeout=5)
    await eventually(lambda: len(factory.destroyed) == 3)
    assert pools.get(PROFILE) is pool, "a standing pool is never dropped"
    await pools.aclose()


async def test_no_on_demand_pools_when_turned_off() -> None:
    pools = pool_set(Factory(), on_demand_uses=0)
    assert [pools.for_run(OTHER) for _ in range(5)] == [None] * 5
    await pools.aclose()
    full = pool_set(Factory(), capacity=1)
    full.add(PROFILE, Bounds(1, 1))
    assert [full.for_run(OTHER) for _ in range(5)] == [None] * 5, "no more pools than the cap has containers"
    await full.aclose()


async def test_a_busy_pool_leaves_the_other_its_share_of_the_cap() -> None:
    factory = Factory()
    pools = pool_set(factory, capacity=5)
    busy = pools.add(PROFILE, Bounds(1, 8))
    quiet = pools.add(OTHER, Bounds(2, 8))
    assert busy is not None and quiet is not None
    for _ in range(10):
        busy.take()  # misses: it wants 8
    assert busy.demand.wanted == 8
    assert (busy.target, quiet.target) == (3, 2), "the quiet pool keeps its minimum; the busy one gets the rest"
    quiet.take()
    quiet.take()
    quiet.take()  # now both want more than half: an even split
    assert {busy.target, quiet.target} == {2, 3}
    await eventually(lambda: busy.stats.ready + quiet.stats.ready == 5)
    await asyncio.sleep(0.05)
    assert busy.stats.ready + quiet.stats.ready + busy.stats.creating + quiet.stats.creating <= 5
    assert pools.add(PROFILE, Bounds(1, 8)) is busy, "add is idempotent"
    await pools.aclose()
