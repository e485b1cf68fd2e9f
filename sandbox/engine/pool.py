"""A warm pool of ready-to-use, single-use items (containers), refilled in the background.

The pool knows nothing about Docker: it is given ``create`` and ``destroy``
coroutines. ``take`` never waits; an empty pool answers ``None`` and the caller
takes the cold path. Refills run off the request path, at most
``refill_limit`` creations at a time across every pool sharing the semaphore.

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


class WarmPool(Generic[T]):
    """Keeps ``size`` items created and ready; each item is handed out once."""

    def __init__(
        self,
        name: str,
        create: Callable[[], Awaitable[T]],
        destroy: Callable[[T], Awaitable[None]],
        *,
        size: int,
        max_idle_s: float,
        refill_limit: asyncio.Semaphore,
        close_timeout_s: float = 30.0,
    ) -> None:
        self.name = name
        self.size = size
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

    def start(self) -> None:
        """Begin filling in the background."""
        if self._task is None and self.size > 0:
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
        if item is None:
            self._counts.misses += 1
            self._wake.set()
        else:
            self._counts.hits += 1
        return item

    def replenish(self) -> None:
        """Start refilling up to ``size`` now (idempotent)."""
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
        want = self.size if count is None else min(count, self.size)
        deadline = time.monotonic() + timeout
        while len(self._ready) < want:
            if time.monotonic() > deadline or self._closed:
                return False
            await asyncio.sleep(0.02)
        return True

    async def aclose(self) -> None:
        """Stop refilling and destroy every ready item."""
        self._closed = True
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
        backoff = 0.0
        while not self._closed:
            self._expire_idle()
            missing = self.size - len(self._ready) - self._creating
            if missing <= 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=min(self._max_idle_s / 4, 30))
                continue
            if backoff and not self._retry_now.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._retry_now.wait(), timeout=backoff)
            if self._retry_now.is_set():
                self._retry_now.clear()
                backoff = 0.0
            # Separate tasks, awaited with asyncio.wait: cancelling this loop does not cancel them.
            batch = [self._spawn_creation() for _ in range(missing)]
            await asyncio.wait(batch)
            failed = [t.exception() for t in batch if not t.cancelled() and t.exception() is not None]
            if failed:
                backoff = min(max(backoff * 2, 0.25), 5.0)
                log.warning("pool %s: %d of %d creations failed: %s", self.name, len(failed), missing, failed[0])
            else:
                backoff = 0.0

    def _spawn_creation(self) -> asyncio.Task[None]:
        task = asyncio.create_task(self._create_one())
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        return task

    async def _create_one(self) -> None:
        self._creating += 1
        try:
            async with self._refill_limit:
                if self._closed:
                    return
                item = await self._create()
        except Exception:
            self._counts.failures += 1
            raise
        finally:
            self._creating -= 1
        if self._closed:
            self._discard(item)
            return
        self._counts.created += 1
        self._ready.append((time.monotonic(), item))

    def _expire_idle(self) -> None:
        now = time.monotonic()
        while self._ready and now - self._ready[0][0] >= self._max_idle_s:
            self._counts.recycled += 1
            self._discard(self._ready.popleft()[1])
