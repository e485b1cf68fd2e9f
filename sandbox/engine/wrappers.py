"""Backends around backends: each cross-cutting concern wraps a ``Backend`` and is one.

``BreakerBackend`` puts a ``resilience.CircuitBreaker`` in front of the engine:
one-shot acquisitions and session openings are its calls (failures that say the
engine is down count: ``DockerUnavailable``, ``DockerFailing``), and session
cells and file operations are refused at once while it is open, so during an
outage every door answers ``capacity_unavailable`` (503 + Retry-After) in
milliseconds instead of waiting on a dead engine. While the breaker is open the
engine is pinged every ``WATCH_INTERVAL_S``: once a ping that failed answers, the
open interval ends at once and the next request probes, so service resumes as
soon as the engine does (not up to ``open_s`` later). When a probe succeeds after
an outage the inner backend is told (``recovered``) so it replaces warm
containers that died with the engine. A server (``start_without_engine``) whose
engine does not answer at start-up starts anyway, with the breaker open, and
recovers the same way. ``build_service`` stacks the wrappers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from sandbox.engine.base import Backend, BackendSession, Lease
from sandbox.engine.sizing import Bounds
from sandbox.engine.spec import PoolReport, Profile, RunSpec
from sandbox.errors import DockerFailing, DockerUnavailable, SandboxError
from sandbox.models import SessionFiles
from sandbox.resilience import BreakerState, CircuitBreaker

log = logging.getLogger(__name__)
#: What counts as the engine failing (a refused request, a program's failure or a cancellation does not).
ENGINE_DOWN = (DockerUnavailable, DockerFailing)
#: How often the engine is pinged while the breaker is open.
WATCH_INTERVAL_S = 0.1


class Wrapper(Backend):
    """A backend around ``inner`` that passes everything on; a wrapper overrides what it adds to."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner

    async def start(self) -> None:
        await self.inner.start()

    async def ping(self) -> None:
        await self.inner.ping()

    def warm(self, profile: Profile, bounds: Bounds | None = None) -> None:
        self.inner.warm(profile, bounds)

    def pools(self) -> list[PoolReport]:
        return self.inner.pools()

    def conditions(self) -> dict[str, str]:
        return self.inner.conditions()

    def recovered(self) -> None:
        self.inner.recovered()

    def acquire(self, spec: RunSpec) -> AbstractAsyncContextManager[Lease]:
        return self.inner.acquire(spec)

    async def open_session(self, spec: RunSpec, lifetime_s: float) -> BackendSession:
        return await self.inner.open_session(spec, lifetime_s)

    async def aclose(self) -> None:
        await self.inner.aclose()


class BreakerBackend(Wrapper):
    """``inner`` behind ``breaker`` (see the module docstring)."""

    def __init__(self, inner: Backend, breaker: CircuitBreaker, *, start_without_engine: bool = False) -> None:
        super().__init__(inner)
        self.breaker = breaker
        self.start_without_engine = start_without_engine
        self._watcher: asyncio.Task[None] | None = None
        self._silent = False  # a ping failed since the last early probe (or since the breaker closed)
        self._closed = False
        breaker.subscribe(self._changed)

    async def start(self) -> None:
        try:
            await self.inner.start()
        except ENGINE_DOWN as exc:
            if not self.start_without_engine:
                raise
            log.warning("starting with the engine's circuit breaker open: %s", exc.message)
            self._silent = True  # as a failed ping: the first ping it answers ends the open interval
            self.breaker.trip(exc)

    def conditions(self) -> dict[str, str]:
        return {**self.inner.conditions(), "breaker": self.breaker.state.value}

    @asynccontextmanager
    async def acquire(self, spec: RunSpec) -> AsyncIterator[Lease]:
        """The acquisition is the breaker's call (a probe lasts no longer than getting a container);
        the engine failing during the run counts too, but the run's success closes nothing."""
        async with contextlib.AsyncExitStack() as stack:
            with self.breaker.guard(ENGINE_DOWN, settles=False):
                lease = await stack.enter_async_context(self.inner.acquire(spec))
            try:
                yield lease
            except ENGINE_DOWN as exc:
                self.breaker.failed(exc)
                raise
            self.breaker.succeeded()

    async def open_session(self, spec: RunSpec, lifetime_s: float) -> BackendSession:
        with self.breaker.guard(ENGINE_DOWN):
            session = await self.inner.open_session(spec, lifetime_s)
        return _GuardedSession(session, self.breaker)

    async def aclose(self) -> None:
        self._closed = True
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)
        await self.inner.aclose()

    def _changed(self, old: BreakerState, new: BreakerState) -> None:
        if new is BreakerState.OPEN and not self._closed and (self._watcher is None or self._watcher.done()):
            with contextlib.suppress(RuntimeError):  # no running loop: nothing to watch with
                self._watcher = asyncio.get_running_loop().create_task(self._watch(), name="breaker-watch")
        if old is BreakerState.HALF_OPEN and new is BreakerState.CLOSED:
            self._silent = False
            self.inner.recovered()

    async def _watch(self) -> None:
        """While the breaker is open, ping the engine; when it answers after a ping failed, probe at once.

        Only an engine that stopped answering and answers again ends the interval early (once per
        silence, across re-openings: a probe may still fail while the engine finishes starting); one
        that answers pings while its calls fail (a 502-504) is probed every ``open_s`` as usual.
        """
        while self.breaker.state is BreakerState.OPEN:
            await asyncio.sleep(WATCH_INTERVAL_S)
            try:
                await self.inner.ping()
            except SandboxError:
                self._silent = True
                continue
            if self._silent:
                self._silent = False
                self.breaker.probe_now()


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

    async def list_files(self) -> SessionFiles:
        self._breaker.check()
        return await self._session.list_files()

    async def close(self) -> None:
        await self._session.close()
