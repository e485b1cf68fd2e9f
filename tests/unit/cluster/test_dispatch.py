"""Runs through ``DispatchBackend`` on a real ``Worker`` (FakeBackend engine) over a real Redis."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import redis.asyncio as aioredis

from sandbox.cluster.dispatch import GROUP, JOBS, owner_key, reply_key, worker_key
from sandbox.engine import FakeBackend, RunOutcome, RunSpec
from sandbox.engine.spec import OutputCallback, deliver
from sandbox.errors import DispatchUnavailable, EngineError, PoolExhausted, RateLimited
from tests.unit.cluster.harness import make_worker, ok, replica, running, settings, spec, wait_for

pytestmark = pytest.mark.anyio


class Chunky(FakeBackend):
    """A fake engine whose run prints ``count`` numbered chunks on alternating streams."""

    def __init__(self, count: int) -> None:
        super().__init__(lambda s: ok())
        self.count = count

    async def answer(self, spec: RunSpec, on_output: OutputCallback | None) -> RunOutcome:
        self.specs.append(spec)
        for i in range(self.count):
            await deliver(on_output, "stdout" if i % 2 == 0 else "stderr", f"{i}\n".encode())
        return ok(b"done")


class Gate:
    """A handler that blocks until ``opened``; counts starts and cancellations."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.opened = asyncio.Event()
        self.seen: list[RunSpec] = []
        self.cancelled = 0

    async def __call__(self, spec: RunSpec) -> RunOutcome:
        self.seen.append(spec)
        self.started.set()
        try:
            await self.opened.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return ok(spec.files[0].data)


async def test_a_run_comes_back_with_its_outcome_and_chunks_in_order(redis_url: str) -> None:
    config = settings(redis_url)
    worker, _ = make_worker(config, lambda s: ok(), Chunky(300))
    chunks: list[tuple[str, bytes]] = []

    async def collect(kind: str, data: bytes) -> None:
        chunks.append((kind, data))

    async with running(worker), replica(config) as backend:
        outcome = await backend.run(spec(env={"TOKEN": "v"}), collect)
    assert outcome == ok(b"done")
    assert chunks == [("stdout" if i % 2 == 0 else "stderr", f"{i}\n".encode()) for i in range(300)]
    assert worker.backend.specs[0].env == {"TOKEN": "v"}  # type: ignore[attr-defined]  # opened on the worker


async def test_the_job_is_acknowledged_and_removed_from_the_stream(redis_url: str) -> None:
    config = settings(redis_url)
    worker, fake = make_worker(config, lambda s: ok(b"x"))
    client = aioredis.Redis.from_url(redis_url)
    try:
        async with running(worker), replica(config) as backend:
            for _ in range(3):
                assert (await backend.run(spec())).stdout == b"x"
            assert await client.xlen(JOBS) == 0
            assert (await client.xpending(JOBS, GROUP))["pending"] == 0
        assert len(fake.specs) == 3
    finally:
        await client.aclose()


async def test_a_workers_error_comes_back_as_the_same_class_and_message(redis_url: str) -> None:
    config = settings(redis_url)

    def refuse(spec: RunSpec) -> RunOutcome:
        error = RateLimited("too many at once on the worker")
        error.retry_after_s = 9
        raise error

    worker, _ = make_worker(config, refuse)
    async with running(worker), replica(config) as backend:
        with pytest.raises(RateLimited) as caught:
            await backend.run(spec())
    assert caught.value.message == "too many at once on the worker"
    assert caught.value.retry_after_s == 9


async def test_an_unexpected_worker_failure_is_an_engine_error_not_its_text(redis_url: str) -> None:
    config = settings(redis_url)

    def crash(spec: RunSpec) -> RunOutcome:
        raise RuntimeError("internal detail /etc/secret")

    worker, _ = make_worker(config, crash)
    async with running(worker), replica(config) as backend:
        with pytest.raises(Exception) as caught:
            await backend.run(spec())
    assert type(caught.value).__name__ == "EngineError"
    assert "/etc/secret" not in str(caught.value)


async def test_no_live_worker_is_dispatch_unavailable(redis_url: str) -> None:
    """A run is refused at once; the replica itself stays ready (its Redis answers), saying so in its conditions."""
    async with replica(settings(redis_url)) as backend:
        with pytest.raises(DispatchUnavailable):
            await backend.run(spec())
        await backend.ping()
        assert backend.conditions() == {"workers": "0"}


async def test_queue_timeout_abandons_the_job_and_it_never_runs(redis_url: str) -> None:
    config = settings(redis_url, max_concurrency=1, queue_timeout_s=0.5)
    gate = Gate()
    worker, fake = make_worker(config, gate)
    client = aioredis.Redis.from_url(redis_url)
    try:
        async with running(worker), replica(config) as backend:
            first = asyncio.create_task(backend.run(spec(b"first")))
            await asyncio.wait_for(gate.started.wait(), 5)
            began = time.monotonic()
            with pytest.raises(PoolExhausted):
                await backend.run(spec(b"second"))
            waited = time.monotonic() - began
            assert 0.5 <= waited < 2.0
            gate.opened.set()  # the slot frees: the worker reads the abandoned job and skips it
            assert (await asyncio.wait_for(first, 5)).stdout == b"first"
            await wait_for(lambda: _empty(client), what="the abandoned job to be dropped")
            await asyncio.sleep(0.5)
            assert [s.files[0].data for s in gate.seen] == [b"first"]
            assert len(fake.specs) == 1
            assert (await backend.run(spec(b"third"))).stdout == b"third"
    finally:
        await client.aclose()


async def _empty(client: aioredis.Redis) -> bool:
    return bool(await client.xlen(JOBS) == 0 and (await client.xpending(JOBS, GROUP))["pending"] == 0)


async def test_cancelled_before_start_never_runs(redis_url: str) -> None:
    config = settings(redis_url, max_concurrency=1, queue_timeout_s=30)
    gate = Gate()
    worker, _ = make_worker(config, gate)
    client = aioredis.Redis.from_url(redis_url)
    try:
        async with running(worker), replica(config) as backend:
            first = asyncio.create_task(backend.run(spec(b"first")))
            await asyncio.wait_for(gate.started.wait(), 5)
            second = asyncio.create_task(backend.run(spec(b"second")))
            await wait_for(lambda: client.xlen(JOBS), what="the second job to be queued")
            await asyncio.sleep(0.3)
            second.cancel()
            began = time.monotonic()
            with pytest.raises(asyncio.CancelledError):
                await second
            assert time.monotonic() - began < 1.0
            gate.opened.set()
            await asyncio.wait_for(first, 5)
            await wait_for(lambda: _empty(client), what="the cancelled job to be dropped")
            await asyncio.sleep(0.3)
            assert [s.files[0].data for s in gate.seen] == [b"first"]
    finally:
        await client.aclose()


async def test_cancelled_during_a_run_kills_it_on_the_worker(redis_url: str) -> None:
    config = settings(redis_url, max_concurrency=1)
    gate = Gate()
    worker, _ = make_worker(config, gate)
    async with running(worker), replica(config) as backend:
        task = asyncio.create_task(backend.run(spec()))
        await asyncio.wait_for(gate.started.wait(), 5)
        await asyncio.sleep(0.1)
        task.cancel()
        began = time.monotonic()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert time.monotonic() - began < 1.5
        assert gate.cancelled == 1
        assert not worker._running
        gate.opened.set()  # one slot: a next run works only if the cancelled one gave it back
        assert (await asyncio.wait_for(backend.run(spec(b"next")), 5)).stdout == b"next"


async def test_a_job_owned_by_nobody_for_too_long_is_abandoned_even_if_a_worker_is_alive(redis_url: str) -> None:
    """A live worker without free slots: the job is refused with PoolExhausted and its owner is 'abandoned'."""
    config = settings(redis_url, max_concurrency=1, queue_timeout_s=0.3)
    gate = Gate()
    worker, _ = make_worker(config, gate)
    client = aioredis.Redis.from_url(redis_url)
    try:
        async with running(worker), replica(config) as backend:
            first = asyncio.create_task(backend.run(spec()))
            await asyncio.wait_for(gate.started.wait(), 5)
            job = await backend.submit("run", spec(b"late"))
            with pytest.raises(PoolExhausted):
                await backend.follow(job, None)
            assert await client.get(owner_key(job)) == b"abandoned"
            gate.opened.set()
            await first
    finally:
        await client.aclose()


# ---------------------------------------------------------------- hostile input


@pytest.mark.parametrize(
    "entry",
    [
        {"job": "not json"},
        {"other": "field"},
        {"job": json.dumps(["a", "list"])},
        {"job": json.dumps({"no": "job id"})},
        {"job": json.dumps({"job": "x1", "kind": "run", "spec": {"files": "nonsense"}})},
        {"job": json.dumps({"job": "x2", "kind": "run"})},
        {"job": json.dumps({"job": "x3", "kind": "open", "spec": {}, "lifetime_s": "soon"})},
    ],
)
async def test_a_malformed_job_does_not_stop_the_worker(redis_url: str, entry: dict[str, str]) -> None:
    config = settings(redis_url, max_concurrency=1)
    worker, _ = make_worker(config, lambda s: ok(b"fine"))
    client = aioredis.Redis.from_url(redis_url)
    try:
        async with running(worker), replica(config) as backend:
            await client.xadd(JOBS, entry)
            await asyncio.sleep(0.3)
            assert (await asyncio.wait_for(backend.run(spec()), 5)).stdout == b"fine"
            await wait_for(lambda: _empty(client), what="the malformed job to be dropped")
            await asyncio.sleep(2 * config.worker_dead_after_s)  # the reclaim loop sees it too, and survives
            assert await client.exists(worker_key(worker.name))  # heartbeats still going
            assert (await asyncio.wait_for(backend.run(spec()), 5)).stdout == b"fine"
    finally:
        await client.aclose()


async def test_a_malformed_reply_frame_is_an_engine_error(redis_url: str) -> None:
    """Something that is not the worker writes junk on a job's reply stream: a clear error, not a crash."""
    config = settings(redis_url)
    async with replica(config) as backend:
        client = backend.redis
        for number, junk in enumerate(
            [
                {"f": "not json"},
                {"g": "x"},
                {"f": json.dumps({"t": "out", "k": "stdout", "d": "***"})},
                {"f": json.dumps({"t": "start"})},
                {"f": json.dumps(["t"])},
                {"f": json.dumps({"t": "error", "error": "NotFound", "retry_after_s": "soon"})},
            ]
        ):
            job = f"junk{number}"
            await client.xadd(reply_key(job), junk)  # type: ignore[arg-type]
            with pytest.raises(EngineError):
                await asyncio.wait_for(backend.follow(job, None, worker="w"), 5)
