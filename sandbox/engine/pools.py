"""``PoolSet``: the warm pools of one backend, sized together under one cap.

Standing pools (``add``: a language's default limits, at start) keep at least their minimum.
A limits profile that has none gets an on-demand pool (minimum 0) once ``on_demand_uses`` runs
came to it within ``shrink_after_s`` (while there are fewer pools than the cap has containers: the
pool count, and the metric series named after them, stay bounded), and loses it when it has shrunk
to nothing and no run came for ``shrink_after_s``. Every pool's ``Demand`` grows on its misses and shrinks on its unused
containers (``sizing.py``); each change re-shares ``capacity`` warm containers among all pools
(``fair_shares``) and wakes the pools whose target moved. A sizing loop closes the periods.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator
from typing import Generic, TypeVar

from sandbox.engine.pool import WarmPool
from sandbox.engine.sizing import Bounds, Demand, RefillGate, fair_shares
from sandbox.engine.spec import PoolReport, Profile

T = TypeVar("T")
log = logging.getLogger(__name__)
#: Limits profiles without a pool whose recent uses are remembered (a client that varies its limits
#: on every request must not grow this without bound).
TRACKED_PROFILES = 64


class PoolSet(Generic[T]):
    """The pools of one backend by profile (see the module docstring).

    ``creator(profile)`` is the coroutine function that creates one warm item of ``profile``.
    """

    def __init__(
        self,
        creator: Callable[[Profile], Callable[[], Awaitable[T]]],
        destroy: Callable[[T], Awaitable[None]],
        *,
        capacity: int,
        default_maximum: int,
        shrink_after_s: float,
        on_demand_uses: int,
        max_idle_s: float,
        refill_limit: asyncio.Semaphore,
        gate: RefillGate,
    ) -> None:
        self.capacity = capacity
        self.default_maximum = default_maximum
        self.shrink_after_s = shrink_after_s
        self.on_demand_uses = on_demand_uses
        self._creator = creator
        self._destroy = destroy
        self._max_idle_s = max_idle_s
        self._refill_limit = refill_limit
        self._gate = gate
        self._pools: dict[Profile, WarmPool[T]] = {}
        self._on_demand: set[Profile] = set()
        self._maximum: dict[str, int] = {}  # per image: the largest an on-demand pool of it may grow
        self._uses: OrderedDict[Profile, list[float]] = OrderedDict()
        self._task: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ pools
    def add(self, profile: Profile, bounds: Bounds) -> WarmPool[T] | None:
        """A standing pool of ``profile`` within ``bounds`` (none for a maximum of 0); idempotent."""
        self._maximum[profile[0]] = bounds.maximum
        if profile in self._pools or bounds.maximum <= 0:
            return self._pools.get(profile)
        return self._open(profile, bounds)

    def for_run(self, profile: Profile) -> WarmPool[T] | None:
        """The pool a run of ``profile`` takes from; the run counts toward an on-demand pool if none."""
        pool = self._pools.get(profile)
        if pool is not None or self.on_demand_uses <= 0 or self.capacity <= 0:
            return pool
        now = time.monotonic()
        uses = [t for t in self._uses.pop(profile, []) if now - t < self.shrink_after_s] + [now]
        if len(uses) < self.on_demand_uses:
            self._uses[profile] = uses
            while len(self._uses) > TRACKED_PROFILES:
                self._uses.popitem(last=False)
            return None
        maximum = self._maximum.get(profile[0], self.default_maximum)
        if maximum <= 0 or len(self._pools) >= self.capacity:  # no more pools than warm containers in all
            return None
        log.info("an on-demand warm pool for %s (used %d times lately)", _name(profile), len(uses))
        self._on_demand.add(profile)
        # The caller's take misses: the pool grows to 1 at once.
        return self._open(profile, Bounds(0, maximum), _name(profile, tagged=True))

    def get(self, profile: Profile) -> WarmPool[T] | None:
        return self._pools.get(profile)

    def __iter__(self) -> Iterator[WarmPool[T]]:
        return iter(list(self._pools.values()))

    def reports(self) -> list[PoolReport]:
        return [_report(pool) for pool in self._pools.values()]

    # ---------------------------------------------------------------- sizing
    def rebalance(self) -> None:
        """Share the capacity again and wake every pool whose target moved (to fill or to trim)."""
        pools = list(self._pools.values())
        before = [pool.target for pool in pools]
        fair_shares([pool.demand for pool in pools], self.capacity)
        for pool, old in zip(pools, before, strict=True):
            if pool.target != old:
                pool.replenish()

    def tick(self) -> None:
        """Close the pools' sizing periods, drop idle on-demand pools, share again."""
        changed = False
        for profile, pool in list(self._pools.items()):
            pool.demand.observe(pool.stats.ready)  # an idle pool sees no takes: its low-water mark is this
            if pool.demand.tick():
                changed = True
                pool.replenish()  # its refill loop destroys what is past the new target
            idle = pool.demand.idle_for() >= self.shrink_after_s
            if profile in self._on_demand and pool.demand.wanted == 0 and idle:
                log.info("dropping the idle on-demand warm pool %s", pool.name)
                self._close(profile)
                changed = True
        if changed:
            self.rebalance()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._sizing_loop(), name="pool-sizing")

    async def _sizing_loop(self) -> None:
        period = min(max(self.shrink_after_s / 4, 0.05), 5.0)
        while True:
            await asyncio.sleep(period)
            try:
                self.tick()
            except Exception:  # a sizing slip is no reason to stop sizing
                log.exception("pool sizing failed")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        pools = [pool.aclose() for pool in self._pools.values()]
        self._pools.clear()
        await asyncio.gather(*pools, *self._closing, return_exceptions=True)

    # ---------------------------------------------------------------- private
    def _open(self, profile: Profile, bounds: Bounds, name: str | None = None) -> WarmPool[T]:
        pool = WarmPool(
            name or _name(profile),
            self._creator(profile),
            self._destroy,
            demand=Demand(bounds, shrink_after_s=self.shrink_after_s),
            max_idle_s=self._max_idle_s,
            refill_limit=self._refill_limit,
            gate=self._gate,
            on_miss=self.rebalance,
        )
        self._pools[profile] = pool
        self.rebalance()
        pool.start()
        return pool

    def _close(self, profile: Profile) -> None:
        self._on_demand.discard(profile)
        task = asyncio.create_task(self._pools.pop(profile).aclose())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)


def _name(profile: Profile, *, tagged: bool = False) -> str:
    """``image/memory``; an on-demand pool's name also carries a digest of its other limits (two
    profiles may share image and memory)."""
    name = f"{profile[0]}/{profile[1]}m"
    return f"{name}/{hashlib.blake2b(repr(profile).encode(), digest_size=3).hexdigest()}" if tagged else name


def _report(pool: WarmPool[T]) -> PoolReport:
    stats, demand = pool.stats, pool.demand
    return PoolReport(
        pool.name,
        stats.ready,
        pool.target,
        stats.hits,
        stats.misses,
        stats.created,
        stats.failures,
        minimum=demand.bounds.minimum,
        maximum=demand.bounds.maximum,
        hit_ratio=demand.hit_ratio,
    )
