"""A warm pool of ready-to-use, single-use items (containers), refilled in the background.

The pool knows nothing about Docker: it is given ``create`` and ``destroy``
coroutines. ``take`` never waits; an empty pool answers ``None`` and the caller
takes the cold path. How many items it keeps is its ``Demand``'s target
(``sizing.py``: it grows on misses and shrinks when items go unused); items past
the target are destroyed, oldest first. Refills run off the request path, at most
``refill_limit`` creations at a time across every pool sharing the semaphore,
each held back by the shared ``RefillGate`` while runs are starting.

``take`` does not start the refill by itself: the caller calls ``replenish``
when its run ends (or after a short delay), because on a small host a
container creation competes for CPU with the very run that took the item.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from sandbox.engine.sizing import Demand, RefillGate

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass
class PoolStats:
    """Counters for metrics and ``sandbox doctor``."""

    ready: int = 0
    creating: int = 0
    hits: int = 0
    misses: int = 0
    created: int = 0
    failures: int = 0
    recycled: int = 0
    waited: int = 0  # misses served by a creation under way (``take_or_wait``)


class WarmPool(Generic[T]):
    """Keeps ``demand.target`` items created and ready; each item is handed out once.

    ``on_miss`` is called when a miss made the demand grow (the owner re-shares its cap).
    """

    def __init__(
        self,
        name: str,
        create: Callable[[], Awaitable[T]],
        destroy: Callable[[T], Awaitable[None]],
        *,
        demand: Demand,
        max_idle_s: float,
        refill_limit: asyncio.Semaphore,
        gate: RefillGate | None = None,
        on_miss: Callable[[], None] | None = None,
        close_timeout_s: float = 30.0,
    ) -> None:
        self.name = name
        self.demand = demand
        self._gate = gate
        self._on_miss = on_miss
        self._create = create
        self._destroy = destroy
        self._max_idle_s = max_idle_s
        self._refill_limit = refill_limit
        self._close_timeout_s = close_timeout_s
        self._ready: deque[tuple[float, T]] = deque()
        self._creating = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._background: set[asyncio.Task[None]] = set()
        self._inflight: set[asyncio.Task[None]] = set()
        self._counts = PoolStats()
        self._retry_now = asyncio.Event()  # purge() cuts a failure backoff short
        self._backoff = 0.0  # after a failure: 0.25 s, doubling to 5 s; 0 after a success
        self._backoff_since = float("-inf")
        self._retry_at = 0.0
        self._waiters: deque[asyncio.Future[T]] = deque()  # misses waiting for a creation (oldest first)

    @property
    def target(self) -> int:
        """How many ready items the pool aims at now."""
        return self.demand.target

    def start(self) -> None:
        """Begin filling in the background (a pool of target 0 fills once a miss raises it)."""
        if self._task is None:
            self._task = asyncio.create_task(self._refill_loop(), name=f"pool-refill:{self.name}")

    def take(self) -> T | None:
        """A ready item, or ``None`` when the pool is empty. Never waits."""
        now = time.monotonic()
        item = None
        while self._ready:
            born, candidate = self._ready.popleft()
            if now - born < self._max_idle_s:
                item = candidate
                break
            self._counts.recycled += 1
            self._discard(candidate)
        if self._gate is not None:
            self._gate.run_started()
        if item is None:
            self._counts.misses += 1
            if self.demand.miss() and self._on_miss is not None:
                self._on_miss()
            self._wake.set()
        else:
            self._counts.hits += 1
            self.demand.hit(len(self._ready))
        return item

    async def take_or_wait(self, wait_s: float) -> T | None:
        """``take``; on a miss, wait up to ``wait_s`` for a creation already under way (or about to be:
        the miss raised the target) rather than go cold: it is further along than a new one would be,
        and a cold creation next to it would slow both down. ``None`` when none is coming in time."""
        item = self.take()
        if item is not None or wait_s <= 0 or self._closed or self._retry_at > time.monotonic():
            return item
        coming = max(self._creating, self.target - len(self._ready))
        if coming <= len(self._waiters):  # every creation under way is promised to an earlier miss
            return None
        handed: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._waiters.append(handed)
        self._wake.set()
        try:
            await asyncio.wait((handed,), timeout=wait_s)
        except BaseException:  # the caller was cancelled: an item handed over meanwhile must not leak
            self._forget(handed)
            raise
        if handed.done() and not handed.cancelled():
            self._counts.waited += 1
            return handed.result()
        self._forget(handed)  # timed out (or the pool closed): go cold
        return None

    def replenish(self) -> None:
        """Start refilling up to the target now (idempotent); also how a new target takes effect."""
        self._wake.set()

    def purge(self) -> None:
        """Destroy every ready item and refill at once, without backoff (they may all be dead)."""
        while self._ready:
            self._counts.recycled += 1
            self._discard(self._ready.popleft()[1])
        self._retry_now.set()
        self._wake.set()

    @property
    def stats(self) -> PoolStats:
        stats = PoolStats(**vars(self._counts))
        stats.ready = len(self._ready)
        stats.creating = self._creating
        return stats

    async def wait_ready(self, count: int | None = None, timeout: float = 60.0) -> bool:
        """Wait until ``count`` (default: all) items are ready; False on timeout."""
        want = self.target if count is None else min(count, self.target)
        deadline = time.monotonic() + timeout
        while len(self._ready) < want:
            if time.monotonic() > deadline or self._closed:
                return False
            await asyncio.sleep(0.02)
        return True

    async def aclose(self) -> None:
        """Stop refilling and destroy every ready item."""
        self._closed = True
        for waiter in self._waiters:
            waiter.cancel()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        # Creations already under way cannot be interrupted (they run in threads):
        # let them finish; each sees the pool closed and destroys its item.
        if self._inflight:
            _, stuck = await asyncio.wait(set(self._inflight), timeout=self._close_timeout_s)
            for task in stuck:
                task.cancel()
            await asyncio.gather(*self._inflight, return_exceptions=True)
        while self._ready:
            self._discard(self._ready.popleft()[1])
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    # ------------------------------------------------------------------ private
    def _discard(self, item: T) -> None:
        task = asyncio.create_task(self._destroy_quietly(item))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _destroy_quietly(self, item: T) -> None:
        try:
            await self._destroy(item)
        except Exception:
            log.exception("pool %s: could not destroy an item", self.name)

    async def _refill_loop(self) -> None:
        """Create what is missing, each creation a task of its own (cancelling this loop does not cancel
        them); every finished creation wakes the loop, so a grown target is served without waiting for
        a whole batch. After a failure, no new creation for ``_backoff`` (0.25 s, doubling to 5 s)."""
        while not self._closed:
            self._expire_idle()
            self._trim()
            self.demand.observe(len(self._ready))
            missing = self.target - len(self._ready) - self._creating
            if self._retry_now.is_set():  # purge(): the items may all have died with the engine; try now
                self._retry_now.clear()
                self._backoff, self._retry_at = 0.0, 0.0
            pause = self._retry_at - time.monotonic()
            if missing > 0 and pause > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._retry_now.wait(), timeout=pause)
                continue
            self._wake.clear()
            for _ in range(max(missing, 0)):
                self._spawn_creation()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=min(self._max_idle_s / 4, 30))

    def _spawn_creation(self) -> asyncio.Task[None]:
        task = asyncio.create_task(self._create_one())
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        return task

    async def _create_one(self) -> None:
        self._creating += 1
        started = float("inf")
        try:
            async with self._refill_limit:
                await self._wait_turn()
                if self._closed:
                    return
                started = time.monotonic()
                item = await self._create()
        except Exception as exc:
            self._counts.failures += 1
            self._failed(exc, started)
            return
        finally:
            self._creating -= 1
            self._wake.set()
        if self._closed:
            self._discard(item)
            return
        self._backoff = 0.0
        self._counts.created += 1
        while self._waiters:  # a miss waits for it: hand it over instead of parking it
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(item)
                return
        self._ready.append((time.monotonic(), item))

    def _forget(self, handed: asyncio.Future[T]) -> None:
        """A waiter gave up: leave the queue; an item handed to it meanwhile is destroyed."""
        with contextlib.suppress(ValueError):
            self._waiters.remove(handed)
        if handed.done() and not handed.cancelled():
            self._discard(handed.result())
        else:
            handed.cancel()

    async def _wait_turn(self) -> None:
        """Runs go first: wait while the gate says runs are starting (bounded by the gate), unless a run
        is waiting for this very creation."""
        if self._gate is None:
            return
        waited = 0.0
        while not self._waiters and (pause := self._gate.delay(waited)) > 0:
            await asyncio.sleep(pause)
            waited += pause

    def _failed(self, exc: Exception, started: float) -> None:
        """Back off: 0.25 s, doubling to 5 s; the other failures of creations started before count once."""
        if started < self._backoff_since:
            return
        self._backoff = min(max(self._backoff * 2, 0.25), 5.0)
        self._backoff_since = time.monotonic()
        self._retry_at = self._backoff_since + self._backoff
        log.warning("pool %s: a creation failed (next try in %.2g s): %s", self.name, self._backoff, exc)

    def _trim(self) -> None:
        """Destroy ready items past the target (it shrank), oldest first."""
        while len(self._ready) > self.target:
            self._counts.recycled += 1
            self._discard(self._ready.popleft()[1])

    def _expire_idle(self) -> None:
        now = time.monotonic()
        while self._ready and now - self._ready[0][0] >= self._max_idle_s:
            self._counts.recycled += 1
            self._discard(self._ready.popleft()[1])
