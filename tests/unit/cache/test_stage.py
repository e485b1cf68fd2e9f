"""The lookup stage on the staged path, with the FakeBackend: a hit runs no container, and nothing else changes.

Admission and validation still happen; the hit is an execution of its own (id, record, events), marked with
its origin; entries are per API key; secrets are refused with the flag; only the program's own verdicts,
without artifacts, are kept; session cells are never cached; Redis shares entries between replicas, and a
Redis that is away makes runs go uncached, never fail.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest
from pydantic import ValidationError

from sandbox.cache import MemoryResults, ResultCache
from sandbox.cache.shared import RedisResults
from sandbox.cluster.localservers import LocalRedis
from sandbox.config import PROJECT_ROOT, Settings
from sandbox.engine import CollectedArtifact, FakeBackend, ImageCatalog, Lease, RunOutcome, RunSpec
from sandbox.errors import RateLimited, ValidationRejected
from sandbox.executions import ExecutionManager
from sandbox.models import Caller, ExecutionRequest, SessionRequest, Status
from sandbox.service import ExecutionService, Stage, StageOrderError
from sandbox.store import Store
from sandbox.validation import PolicySet

pytestmark = pytest.mark.anyio

CATALOG = ImageCatalog(PROJECT_ROOT / "images")
CODE = "print('hello')"


def hello(spec: RunSpec) -> RunOutcome:
    return RunOutcome(status=Status.OK, exit_code=0, stdout=b"hello\n", stderr=b"note\n", wall_ms=3, cpu_ms=2)


class Counting(FakeBackend):
    """A FakeBackend that counts the sandboxes acquired (a container each, for the real backend)."""

    acquired = 0

    def acquire(self, spec: RunSpec) -> AbstractAsyncContextManager[Lease]:
        self.acquired += 1
        return super().acquire(spec)


class World:
    """A service on a counting FakeBackend with a real SQLite store."""

    def __init__(
        self,
        path: Path,
        handler: Callable[[RunSpec], RunOutcome | Awaitable[RunOutcome]] = hello,
        results: ResultCache | None = None,
        store: Store | None = None,
        **kw: object,
    ) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.settings = Settings(state_dir=path, validation_workers=0, **kw)  # type: ignore[arg-type]
        self.own_store = store is None
        self.store = store or Store(f"sqlite:///{path}/db.sqlite")
        self.backend = Counting(handler, queue_timeout_s=5)
        policies = PolicySet(self.settings.policies_dir, self.settings.default_policy)
        self.service = ExecutionService(
            self.settings, self.backend, CATALOG, policies, store=self.store, results=results
        )
        self.manager = ExecutionManager(self.service)

    def key(self, name: str, rate: int = 1000) -> Caller:
        return Caller.of(self.store.create_key(name, "standard", 4, rate)[0])

    async def close(self) -> None:
        await self.manager.aclose()
        await self.service.aclose()
        if self.own_store:
            self.store.close()


@pytest.fixture
async def worlds(tmp_path: Path) -> AsyncIterator[Callable[..., World]]:
    made: list[World] = []

    def make(*args: object, **kw: object) -> World:
        world = World(tmp_path / str(len(made)), *args, **kw)  # type: ignore[arg-type]
        made.append(world)
        return world

    yield make
    for world in made:
        await world.close()


def cached(code: str = CODE, **fields: object) -> ExecutionRequest:
    return ExecutionRequest(code=code, cache=True, **fields)  # type: ignore[arg-type]


async def test_a_hit_runs_no_container_and_is_an_execution_of_its_own(worlds: Callable[..., World]) -> None:
    world = worlds()
    caller = world.key("k")
    first = await world.service.run(cached(), caller=caller)
    assert world.backend.acquired == 1 and first.result is not None and not first.result.cached
    printed: list[tuple[str, bytes]] = []
    second = await world.service.run(cached(), caller=caller, on_output=lambda k, c: printed.append((k, c)))
    assert world.backend.acquired == 1 and len(world.backend.specs) == 1  # no sandbox, no run
    result = second.result
    assert result is not None and second.id != first.id and second.hit
    assert (result.cached, result.cached_from) == (True, first.id)
    assert (result.status, result.stdout, result.stderr, result.wall_ms) == (Status.OK, "hello\n", "note\n", 3)
    assert printed == [("stdout", b"hello\n"), ("stderr", b"note\n")]  # the CLI streams it as if it ran
    # Its events: the output, then the record, marked.
    kinds = [event.kind for event in second.events]
    assert kinds == ["stdout", "stderr", "result"]
    assert second.events[-1].data.cached_from == first.id
    # Its record, read back from the store, says so; the origin's does not.
    await second.saved.wait()
    stored = world.store.get_execution(second.id, caller.key_id)
    assert stored is not None and (stored.cached, stored.cached_from, stored.stdout) == (True, first.id, "hello\n")
    origin = world.store.get_execution(first.id, caller.key_id)
    assert origin is not None and (origin.cached, origin.cached_from) == (False, None)
    listed, total = world.store.list_executions(caller.key_id, 10, 0)
    assert total == 2 and {r.id: r.cached for r in listed} == {first.id: False, second.id: True}


async def test_through_the_manager_get_and_events_show_the_mark(worlds: Callable[..., World]) -> None:
    world = worlds()
    caller = world.key("k")
    first = await world.manager.submit(cached(), caller)
    await first.done.wait()
    second = await world.manager.submit(cached(), caller)
    await second.done.wait()
    view = await world.manager.get(second.id, caller)
    assert (view.cached, view.cached_from, view.state) == (True, first.id, "done")
    _, events = await world.manager.events(second.id, caller, None)
    seen = [event async for event in events]
    assert seen[-1].kind == "result" and seen[-1].data.cached_from == first.id
    records, _ = await world.manager.page(caller, 10, 0)
    assert {r.id: r.cached_from for r in records} == {first.id: None, second.id: first.id}


async def test_lookup_is_a_stage_in_order(worlds: Callable[..., World]) -> None:
    world = worlds()
    caller = world.key("k")
    execution = world.service.execution(cached(), caller)
    with pytest.raises(StageOrderError, match="cannot lookup in stage 'new'"):
        await execution.lookup()
    await execution.prepare()
    assert not await execution.lookup()  # a miss: still validated, to be run
    assert execution.stage is Stage.VALIDATED and execution.cache_key is not None
    execution.release()


async def test_without_the_flag_nothing_is_looked_up_or_kept(worlds: Callable[..., World]) -> None:
    world = worlds()
    caller = world.key("k")
    await world.service.run(ExecutionRequest(code=CODE), caller=caller)
    missed = await world.service.run(cached(), caller=caller)  # the uncached run left nothing
    again = await world.service.run(ExecutionRequest(code=CODE), caller=caller)  # an entry exists; not asked
    assert world.backend.acquired == 3
    assert missed.result is not None and again.result is not None
    assert not missed.result.cached and not again.result.cached


async def test_entries_are_per_api_key(worlds: Callable[..., World]) -> None:
    world = worlds()
    alice, bob = world.key("alice"), world.key("bob")
    first = await world.service.run(cached(), caller=alice)
    theirs = await world.service.run(cached(), caller=bob)  # same code, another tenant: runs, learns nothing
    local = await world.service.run(cached())  # the operator (no key) is a tenant of its own
    assert world.backend.acquired == 3
    assert theirs.result is not None and not theirs.result.cached and theirs.result.cached_from is None
    assert local.result is not None and not local.result.cached
    mine = await world.service.run(cached(), caller=alice)
    assert mine.result is not None and mine.result.cached_from == first.id
    bobs = await world.service.run(cached(), caller=bob)
    assert bobs.result is not None and bobs.result.cached_from == theirs.id
    assert world.backend.acquired == 3


def test_secrets_and_the_cache_are_refused_together() -> None:
    with pytest.raises(ValidationError, match="cache cannot be combined with secrets"):
        ExecutionRequest(code=CODE, cache=True, secrets=["TOKEN"])
    ExecutionRequest(code=CODE, secrets=["TOKEN"])  # each alone is fine
    ExecutionRequest(code=CODE, cache=True)


async def test_a_hit_still_takes_the_callers_rate_and_gets_its_own_validation(worlds: Callable[..., World]) -> None:
    world = worlds()
    caller = world.key("k", rate=2)
    await world.service.run(cached(), caller=caller)
    hit = await world.service.run(cached(), caller=caller)
    assert hit.result is not None and hit.result.cached
    with pytest.raises(RateLimited):
        await world.service.run(cached(), caller=caller)  # admission comes before the cache
    assert world.backend.acquired == 1


async def test_a_hit_is_validated_and_carries_its_own_findings(worlds: Callable[..., World]) -> None:
    world = worlds()
    warned = "import pickle\nprint('hello')"  # the permissive tier reports it as a warning, and runs it
    first = await world.service.run(cached(warned, policy="permissive"))
    second = await world.service.run(cached(warned, policy="permissive"))
    assert first.result is not None and second.result is not None
    assert second.result.cached and first.result.findings
    assert second.result.findings == first.result.findings
    with pytest.raises(ValidationRejected):  # the same code under a tier that denies it: refused, hit or not
        await world.service.run(cached(warned, policy="standard"))
    assert world.backend.acquired == 1


@pytest.mark.parametrize(
    "outcome",
    [
        RunOutcome(status=Status.TIMEOUT, wall_ms=10_000),
        RunOutcome(status=Status.KILLED, signal=9),
        RunOutcome(status=Status.OK, exit_code=0, artifacts=[CollectedArtifact("out/a.txt", 1, b"a")]),
    ],
    ids=["timeout", "killed", "artifacts"],
)
async def test_what_is_not_kept_runs_again(worlds: Callable[..., World], outcome: RunOutcome) -> None:
    world = worlds(handler=lambda spec: outcome)
    caller = world.key("k")
    for _ in range(2):
        execution = await world.service.run(cached(), caller=caller)
        assert execution.result is not None and not execution.result.cached
    assert world.backend.acquired == 2


async def test_our_failure_is_not_kept(worlds: Callable[..., World]) -> None:
    def broken(spec: RunSpec) -> RunOutcome:
        raise RuntimeError("boom")

    world = worlds(handler=broken)
    caller = world.key("k")
    for _ in range(2):
        execution = await world.service.run(cached(), caller=caller)
        assert execution.result is not None and execution.result.status is Status.INTERNAL_ERROR
    assert world.backend.acquired == 2


async def test_a_cancelled_run_is_not_kept(worlds: Callable[..., World]) -> None:
    started, release = asyncio.Event(), asyncio.Event()

    async def held(spec: RunSpec) -> RunOutcome:
        started.set()
        await release.wait()
        return hello(spec)

    world = worlds(handler=held)
    caller = world.key("k")
    execution = await world.manager.submit(cached(), caller)
    await started.wait()
    await world.manager.cancel(execution.id, caller)
    assert execution.result is not None and execution.result.status is Status.KILLED
    started.clear()
    release.set()
    again = await world.service.run(cached(), caller=caller)
    assert again.result is not None and not again.result.cached and world.backend.acquired == 2


async def test_session_cells_are_never_cached(worlds: Callable[..., World]) -> None:
    world = worlds()
    caller = world.key("k")
    session = await world.service.open_session(SessionRequest(), caller, "s" * 32)
    for _ in range(2):
        cell = world.service.execution(ExecutionRequest(code=CODE, cache=True), caller, session)
        await cell.prepare()
        await cell.finish()
        assert cell.result is not None and not cell.result.cached and cell.cache_key is None
    await session.sandbox.close()


# ------------------------------------------------------------------------------ Redis


async def test_redis_shares_entries_between_replicas(worlds: Callable[..., World], redis_url: str) -> None:
    # Two replicas: an engine each, one database and one Redis between them.
    one = worlds(redis_url=redis_url)
    two = worlds(redis_url=redis_url, store=one.store)
    assert isinstance(one.service.results.store, RedisResults)  # SANDBOX_REDIS_URL: the shared store
    alice = one.key("alice")
    first = await one.service.run(cached(), caller=alice)
    hit = await two.service.run(cached(), caller=alice)
    assert hit.result is not None and hit.result.cached_from == first.id
    assert (one.backend.acquired, two.backend.acquired) == (1, 0)
    stranger = await two.service.run(cached(), caller=two.key("bob"))
    assert stranger.result is not None and not stranger.result.cached and two.backend.acquired == 1


async def test_redis_away_the_run_goes_on_uncached(
    worlds: Callable[..., World], own_redis: LocalRedis, caplog: pytest.LogCaptureFixture
) -> None:
    results = ResultCache(RedisResults(own_redis.url, timeout_s=0.5), ttl_s=60, entry_bytes=1 << 20)
    world = worlds(results=results)  # rate limits in this process: only the cache needs Redis
    caller = world.key("k")
    await world.service.run(cached(), caller=caller)
    assert (await world.service.run(cached(), caller=caller)).hit
    own_redis.stop()
    with caplog.at_level(logging.WARNING, "sandbox.cache"):
        for _ in range(2):
            execution = await world.service.run(cached(), caller=caller)
            assert execution.result is not None and execution.result.status is Status.OK
            assert not execution.result.cached
    assert world.backend.acquired == 3
    assert any("runs go uncached" in r.getMessage() for r in caplog.records)


async def test_a_memory_cache_of_its_own_can_be_given(worlds: Callable[..., World]) -> None:
    results = ResultCache(MemoryResults(1, 1 << 20), ttl_s=60, entry_bytes=1 << 20)
    world = worlds(results=results)
    caller = world.key("k")
    await world.service.run(cached("print(1)"), caller=caller)
    await world.service.run(cached("print(2)"), caller=caller)  # one entry: the first goes
    again = await world.service.run(cached("print(1)"), caller=caller)
    assert again.result is not None and not again.result.cached and world.backend.acquired == 3


async def test_ttl_zero_turns_the_cache_off(worlds: Callable[..., World]) -> None:
    world = worlds(result_cache_ttl_s=0)
    caller = world.key("k")
    for _ in range(2):
        execution = await world.service.run(cached(), caller=caller)
        assert execution.result is not None and not execution.result.cached
    assert world.backend.acquired == 2
