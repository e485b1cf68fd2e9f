"""MeteredBackend on a FakeBackend: pool figures, runs in flight and open sessions as metrics."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY

from sandbox.engine import FakeBackend, MeteredBackend, PoolReport, RunOutcome, RunSpec
from sandbox.models import Status
from sandbox.observability import exposition
from tests.unit.helpers import make_limits

pytestmark = pytest.mark.anyio


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class PooledFake(FakeBackend):
    """A FakeBackend that reports one pool whose figures the test sets."""

    def __init__(self, name: str) -> None:
        super().__init__(lambda spec: RunOutcome(status=Status.OK, exit_code=0))
        self.report = PoolReport(name, ready=0, target=0)

    def pools(self) -> list[PoolReport]:
        return [self.report]


def spec() -> RunSpec:
    return RunSpec(image="img", mode="python", argv=("python3", "main.py"), files=(), limits=make_limits())


async def test_pool_figures_are_read_and_counters_grow_by_what_is_new() -> None:
    inner = PooledFake("test/a")
    backend = MeteredBackend(inner, interval_s=3600)  # only the start and scrapes read the pools here
    async with backend:
        pool = {"pool": "test/a"}
        assert value("sandbox_pool_hits_total", **pool) == 0 and value("sandbox_cold_creates_total", **pool) == 0
        inner.report = PoolReport("test/a", ready=3, target=4, hits=5, misses=2, created=7, failures=1, hit_ratio=0.7)
        exposition.refresh()  # what a scrape does first
        assert (value("sandbox_pool_ready", **pool), value("sandbox_pool_target", **pool)) == (3, 4)
        assert value("sandbox_pool_hit_ratio", **pool) == 0.7
        assert value("sandbox_pool_hits_total", **pool) == 5 and value("sandbox_pool_misses_total", **pool) == 2
        assert value("sandbox_pool_creates_total", **pool) == 7
        assert value("sandbox_pool_create_failures_total", **pool) == 1
        inner.report = PoolReport("test/a", ready=1, target=4, hits=6, misses=2, created=7, failures=1)
        exposition.refresh()
        exposition.refresh()  # reading twice counts nothing twice
        assert value("sandbox_pool_hits_total", **pool) == 6 and value("sandbox_pool_ready", **pool) == 1
    assert (value("sandbox_pool_ready", **pool), value("sandbox_pool_target", **pool)) == (0, 0)
    before = value("sandbox_pool_hits_total", **pool)
    exposition.refresh()  # a closed backend no longer reports
    assert value("sandbox_pool_hits_total", **pool) == before


async def test_a_pool_that_is_gone_reads_zero() -> None:
    inner = PooledFake("test/c")
    async with MeteredBackend(inner, interval_s=3600) as backend:
        inner.report = PoolReport("test/c", ready=2, target=3)
        exposition.refresh()
        assert value("sandbox_pool_target", pool="test/c") == 3
        inner.report = PoolReport("test/d", ready=0, target=0)  # test/c was an on-demand pool, dropped when idle
        backend.observe()
        assert (value("sandbox_pool_ready", pool="test/c"), value("sandbox_pool_target", pool="test/c")) == (0, 0)


async def test_the_timer_reads_the_pools_without_a_scrape() -> None:
    inner = PooledFake("test/b")
    async with MeteredBackend(inner, interval_s=0.01):
        inner.report = PoolReport("test/b", ready=2, target=2)
        await asyncio.sleep(0.1)
        assert value("sandbox_pool_ready", pool="test/b") == 2


async def test_a_run_counts_as_running_while_it_holds_its_sandbox() -> None:
    async with MeteredBackend(FakeBackend(lambda spec: RunOutcome(status=Status.OK))) as backend:
        before = value("sandbox_executions_running")
        async with backend.acquire(spec()) as lease:
            assert value("sandbox_executions_running") == before + 1
            await lease.run(spec())
        assert value("sandbox_executions_running") == before
        with pytest.raises(RuntimeError):
            async with backend.acquire(spec()):
                raise RuntimeError("the run failed")
        assert value("sandbox_executions_running") == before


async def test_a_session_is_open_until_closed_once() -> None:
    before = value("sandbox_sessions_open")
    async with MeteredBackend(FakeBackend(lambda spec: RunOutcome(status=Status.OK))) as backend:
        first = await backend.open_session(spec(), 60)
        await backend.open_session(spec(), 60)
        assert value("sandbox_sessions_open") == before + 2
        await first.close()
        await first.close()
        assert value("sandbox_sessions_open") == before + 1
    assert value("sandbox_sessions_open") == before  # the one still open left with the backend
