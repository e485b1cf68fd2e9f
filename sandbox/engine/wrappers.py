"""Backends around backends: each cross-cutting concern wraps a ``Backend`` and is one.

``BreakerBackend`` puts a ``resilience.CircuitBreaker`` in front of the engine:
one-shot acquisitions and session openings are its calls (failures that say the
engine is down count: ``DockerUnavailable``, ``DockerFailing``), and session
cells and file operations are refused at once while it is open, so during an
outage every door answers ``capacity_unavailable`` (503 + Retry-After) in
milliseconds instead of waiting on a dead engine. When a probe succeeds after
an outage the inner backend is told (``recovered``) so it replaces warm
containers that died with the engine. ``build_service`` stacks the wrappers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from sandbox.engine.base import Backend, BackendSession, Lease
from sandbox.engine.spec import PoolReport, Profile, RunSpec
from sandbox.errors import DockerFailing, DockerUnavailable
from sandbox.resilience import BreakerState, CircuitBreaker

#: What counts as the engine failing (a refused request, a program's failure or a cancellation does not).
ENGINE_DOWN = (DockerUnavailable, DockerFailing)


class BreakerBackend(Backend):
    """``inner`` behind ``breaker`` (see the module docstring)."""

    def __init__(self, inner: Backend, breaker: CircuitBreaker) -> None:
        self.inner = inner
        self.breaker = breaker
        breaker.subscribe(self._changed)

    async def start(self) -> None:
        await self.inner.start()

    async def ping(self) -> None:
        await self.inner.ping()

    def warm(self, profile: Profile) -> None:
        self.inner.warm(profile)

    def pools(self) -> list[PoolReport]:
        return self.inner.pools()

    def conditions(self) -> dict[str, str]:
        return {**self.inner.conditions(), "breaker": self.breaker.state.value}

    def recovered(self) -> None:
        self.inner.recovered()

    @asynccontextmanager
    async def acquire(self, spec: RunSpec) -> AsyncIterator[Lease]:
        """One call of the breaker: the acquisition and the run in the block (its verdict is the block's)."""
        with self.breaker.guard(ENGINE_DOWN):
            async with self.inner.acquire(spec) as lease:
                yield lease

    async def open_session(self, spec: RunSpec, lifetime_s: float) -> BackendSession:
        with self.breaker.guard(ENGINE_DOWN):
            session = await self.inner.open_session(spec, lifetime_s)
        return _GuardedSession(session, self.breaker)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def _changed(self, old: BreakerState, new: BreakerState) -> None:
        if old is BreakerState.HALF_OPEN and new is BreakerState.CLOSED:
            self.inner.recovered()


class _GuardedSession(BackendSession):
    """A session whose cells and file operations are refused at once while the breaker is open."""

    def __init__(self, session: BackendSession, breaker: CircuitBreaker) -> None:
        self._session = session
        self._breaker = breaker

    @property
    def ended(self) -> bool:
        return self._session.ended

    def acquire(self) -> AbstractAsyncContextManager[Lease]:
        self._breaker.check()
        return self._session.acquire()

    async def put_file(self, path: str, data: bytes) -> None:
        self._breaker.check()
        await self._session.put_file(path, data)

    async def get_file(self, path: str) -> bytes:
        self._breaker.check()
        return await self._session.get_file(path)

    async def close(self) -> None:
        await self._session.close()
