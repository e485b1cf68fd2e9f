"""BreakerBackend: while the breaker is open it pings the engine; an engine that answers again is probed at once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest

from sandbox.engine import FakeBackend, Lease, RunOutcome, RunSpec
from sandbox.engine.wrappers import WATCH_INTERVAL_S, BreakerBackend
from sandbox.errors import CapacityUnavailable, DockerFailing, DockerUnavailable
from sandbox.models import Status
from sandbox.resilience import BreakerState, CircuitBreaker

pytestmark = pytest.mark.anyio


class Engine(FakeBackend):
    """Getting a container fails while ``down`` (as creating one does); pings fail while ``silent``."""

    def __init__(self) -> None:
        super().__init__(lambda spec: RunOutcome(status=Status.OK, exit_code=0))
        self.down = False
        self.silent = False
        self.failure: type[Exception] = DockerUnavailable
        self.pings = 0

    @asynccontextmanager
    async def acquire(self, spec: RunSpec) -> AsyncIterator[Lease]:
        if self.down:
            raise self.failure("create a cold container: the engine failed")
        async with super().acquire(spec) as lease:
            yield lease

    async def ping(self) -> None:
        self.pings += 1
        if self.silent:
            raise DockerUnavailable("ping the Docker engine: the Docker engine does not answer")


async def run(backend: BreakerBackend) -> None:
    async with backend.acquire(None) as lease:  # type: ignore[arg-type]
        await lease.run(None)  # type: ignore[arg-type]


async def open_it(backend: BreakerBackend, engine: Engine) -> None:
    engine.down = True
    for _ in range(backend.breaker.failures):
        with pytest.raises(engine.failure):
            await run(backend)
    assert backend.breaker.state is BreakerState.OPEN


async def test_an_engine_answering_again_is_probed_at_once_not_after_the_open_interval() -> None:
    engine = Engine()
    backend = BreakerBackend(engine, CircuitBreaker("engine", failures=2, open_s=60))
    engine.silent = True
    await open_it(backend, engine)
    await anyio.sleep(WATCH_INTERVAL_S * 3)
    assert backend.breaker.state is BreakerState.OPEN and engine.pings >= 2  # still silent: stays open
    engine.silent = engine.down = False
    with anyio.fail_after(WATCH_INTERVAL_S * 5):
        while backend.breaker.state is BreakerState.OPEN:
            await anyio.sleep(0.01)
    assert backend.breaker.state is BreakerState.HALF_OPEN
    await run(backend)  # the probe
    assert backend.breaker.state is BreakerState.CLOSED
    await backend.aclose()


async def test_an_engine_that_answers_pings_while_its_calls_fail_waits_out_the_interval() -> None:
    engine = Engine()
    engine.failure = DockerFailing
    backend = BreakerBackend(engine, CircuitBreaker("engine", failures=2, open_s=60))
    await open_it(backend, engine)
    await anyio.sleep(WATCH_INTERVAL_S * 4)
    assert engine.pings >= 2
    assert backend.breaker.state is BreakerState.OPEN
    await backend.aclose()  # the watcher goes with it
    assert backend._watcher is not None and backend._watcher.done()


async def test_the_engine_answering_again_is_noticed_across_reopenings_once_per_silence() -> None:
    engine = Engine()
    backend = BreakerBackend(engine, CircuitBreaker("engine", failures=2, open_s=1.0))
    engine.silent = True
    await open_it(backend, engine)
    await anyio.sleep(1.05)  # silent pings all along; the interval ends by time
    assert backend.breaker.state is BreakerState.HALF_OPEN
    with pytest.raises(DockerUnavailable):
        await run(backend)  # the probe fails: open again, a new watcher
    assert backend.breaker.state is BreakerState.OPEN
    engine.silent = False  # the engine answers: the silence seen before ends this interval early
    with anyio.fail_after(0.5):
        while backend.breaker.state is BreakerState.OPEN:
            await anyio.sleep(0.01)
    with pytest.raises(DockerUnavailable):
        await run(backend)  # still starting: this probe fails too
    await anyio.sleep(WATCH_INTERVAL_S * 4)
    assert backend.breaker.state is BreakerState.OPEN  # answering pings, failing calls: open_s as usual
    await backend.aclose()


class DownAtStart(Engine):
    """An engine that does not answer when the server starts."""

    async def start(self) -> None:
        if self.silent:
            raise DockerUnavailable("connect to the Docker engine: the Docker engine does not answer")
        await super().start()


async def test_a_server_starts_with_the_breaker_open_when_the_engine_does_not_answer_then_recovers() -> None:
    engine = DownAtStart()
    engine.silent = engine.down = True
    backend = BreakerBackend(engine, CircuitBreaker("engine", failures=5, open_s=60), start_without_engine=True)
    await backend.start()
    assert backend.breaker.state is BreakerState.OPEN  # at once: not after five refused requests
    assert "does not answer" in backend.breaker.last_error
    with anyio.fail_after(1):
        with pytest.raises(CapacityUnavailable):
            await run(backend)
    engine.silent = engine.down = False  # the engine answers: the watcher's ping ends the open interval
    with anyio.fail_after(2):
        while backend.breaker.state is BreakerState.OPEN:
            await anyio.sleep(WATCH_INTERVAL_S)
    await run(backend)  # the probe
    assert backend.breaker.state is BreakerState.CLOSED
    await backend.aclose()


async def test_without_start_without_engine_the_start_fails() -> None:
    """`sandbox run`: nothing to wait for, exit 75 at once."""
    engine = DownAtStart()
    engine.silent = True
    backend = BreakerBackend(engine, CircuitBreaker("engine", failures=5, open_s=60))
    with pytest.raises(DockerUnavailable):
        await backend.start()
    assert backend.breaker.state is BreakerState.CLOSED
