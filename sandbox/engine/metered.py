"""``MeteredBackend``: a backend around a backend that turns its pools and sessions into metrics.

The pools count for themselves (``pool.PoolStats``: running totals, no
Prometheus in sight); this wrapper reads them through ``pools()`` and hands
them to ``observability.metrics``, before each scrape this process answers and
every ``interval_s`` (with several worker processes a scrape reaches one of
them; the timer keeps the others' figures fresh). A session counts as open from
its opening to its close, once, however it ends; a one-shot run counts as
running while it holds its container. The stages are timed by the stage hook,
not here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from sandbox.engine.base import Backend, BackendSession, Lease
from sandbox.engine.spec import RunSpec
from sandbox.engine.wrappers import Wrapper
from sandbox.models import SessionFiles
from sandbox.observability import exposition, metrics

log = logging.getLogger(__name__)
#: How often pool figures are read when no scrape asks (seconds).
OBSERVE_INTERVAL_S = 2.0


class MeteredBackend(Wrapper):
    """``inner`` with its pool figures and open sessions exported (see the module docstring)."""

    def __init__(self, inner: Backend, *, interval_s: float = OBSERVE_INTERVAL_S) -> None:
        super().__init__(inner)
        self.interval_s = interval_s
        self._seen: set[str] = set()
        self._sessions: set[_MeteredSession] = set()
        self._task: asyncio.Task[None] | None = None
        self._unhook: Callable[[], None] = lambda: None

    async def start(self) -> None:
        await self.inner.start()
        if self._task is None:
            self._unhook = exposition.on_scrape(self.observe)
            self._task = asyncio.create_task(self._observe_loop(), name="pool-metrics")

    @asynccontextmanager
    async def acquire(self, spec: RunSpec) -> AsyncIterator[Lease]:
        async with self.inner.acquire(spec) as lease:
            metrics.run_started()
            try:
                yield lease
            finally:
                metrics.run_ended()

    async def open_session(self, spec: RunSpec, lifetime_s: float) -> BackendSession:
        session = _MeteredSession(await self.inner.open_session(spec, lifetime_s), self._sessions)
        metrics.session_opened()
        return session

    async def aclose(self) -> None:
        self._unhook()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        try:
            await self.inner.aclose()  # closes the sessions still open, without telling their wrappers
        finally:
            for session in list(self._sessions):
                session.counted_closed()
            for name in self._seen:
                metrics.pool_closed(name)

    def observe(self) -> None:
        """Hand the pools' current figures to the metrics (cheap: a few numbers per pool)."""
        pools = self.inner.pools()
        for gone in self._seen - {pool.name for pool in pools}:  # an on-demand pool dropped when idle
            metrics.pool_closed(gone)
        self._seen = {pool.name for pool in pools}
        for pool in pools:
            metrics.pool_observed(
                pool.name,
                ready=pool.ready,
                target=pool.target,
                hits=pool.hits,
                misses=pool.misses,
                created=pool.created,
                failures=pool.failures,
                hit_ratio=pool.hit_ratio,
            )

    async def _observe_loop(self) -> None:
        while True:
            try:
                self.observe()
            except Exception:  # a figure missed is no reason to stop the next ones
                log.exception("could not read the pool figures")
            await asyncio.sleep(self.interval_s)


class _MeteredSession(BackendSession):
    """A session that leaves the open-sessions gauge once, at its close."""

    def __init__(self, session: BackendSession, registry: set[_MeteredSession]) -> None:
        self._session = session
        self._registry = registry
        registry.add(self)

    @property
    def ended(self) -> bool:
        return self._session.ended

    def acquire(self) -> AbstractAsyncContextManager[Lease]:
        return self._session.acquire()

    async def put_file(self, path: str, data: bytes) -> None:
        await self._session.put_file(path, data)

    async def get_file(self, path: str) -> bytes:
        return await self._session.get_file(path)

    async def list_files(self) -> SessionFiles:
        return await self._session.list_files()

    async def close(self) -> None:
        try:
            await self._session.close()
        finally:
            self.counted_closed()

    def counted_closed(self) -> None:
        """Leave the gauge (idempotent)."""
        if self in self._registry:
            self._registry.discard(self)
            metrics.session_closed()
