"""A worker SIGKILLed mid-run, and messages left behind by consumers that died: reclaim, exactly once."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import redis.asyncio as aioredis

from sandbox.cluster.dispatch import GROUP, JOBS, ensure_group, owner_key, reply_key, worker_key, worker_name
from sandbox.engine import RunOutcome, RunSpec
from sandbox.errors import WorkerLost
from tests.unit.cluster.harness import (
    WorkerProcess,
    frames,
    make_worker,
    ok,
    replica,
    running,
    settings,
    spec,
    wait_for,
)

pytestmark = pytest.mark.anyio

DEAD_AFTER_S = 0.6


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    made = aioredis.Redis.from_url(redis_url)
    yield made
    await made.aclose()


@pytest.fixture
async def doomed(redis_url: str, client: aioredis.Redis) -> AsyncIterator[WorkerProcess]:
    """A worker process whose runs sleep a minute."""
    process = WorkerProcess(redis_url, f"doomed-{uuid.uuid4().hex[:6]}", dead_after_s=DEAD_AFTER_S)
    try:
        await process.ready(client)
        yield process
    finally:
        process.close()


async def test_a_killed_worker_is_worker_lost_within_dead_after_and_a_beat(
    redis_url: str, client: aioredis.Redis, doomed: WorkerProcess
) -> None:
    config = settings(redis_url, worker_dead_after_s=DEAD_AFTER_S)
    async with replica(config) as backend:
        job = await backend.submit("run", spec())
        follow = asyncio.create_task(backend.follow(job, None))
        await wait_for(lambda: client.get(owner_key(job)), 10, "the worker to take the job")
        assert worker_name((await client.get(owner_key(job))).decode()) == doomed.name
        doomed.kill()
        killed = time.monotonic()
        with pytest.raises(WorkerLost):
            await asyncio.wait_for(follow, 10)
        assert time.monotonic() - killed < DEAD_AFTER_S + 1.0


async def test_a_worker_restarted_under_the_same_name_does_not_hide_the_lost_run(
    redis_url: str, client: aioredis.Redis
) -> None:
    """Kubernetes names a worker after its node: its successor beats under the same name before the first
    one's heartbeat expires. The run the first one held is still lost (another incarnation), at the
    successor's first beat, not awaited forever."""
    dead_after_s = 8.0  # longer than a worker process takes to start: the successor beats while it is fresh
    name = f"reborn-{uuid.uuid4().hex[:6]}"
    doomed = WorkerProcess(redis_url, name, dead_after_s=dead_after_s)
    successor: WorkerProcess | None = None
    config = settings(redis_url, worker_dead_after_s=dead_after_s)
    try:
        await doomed.ready(client)
        async with replica(config) as backend:
            job = await backend.submit("run", spec())
            follow = asyncio.create_task(backend.follow(job, None))
            await wait_for(lambda: client.get(owner_key(job)), 10, "the doomed worker to take the job")
            first = json.loads(await client.get(worker_key(name)))["incarnation"]
            doomed.kill()
            killed = time.monotonic()
            successor = WorkerProcess(redis_url, name, dead_after_s=dead_after_s)

            async def succeeded() -> bool:
                beat = await client.get(worker_key(name))
                return beat is not None and json.loads(beat)["incarnation"] != first

            await wait_for(succeeded, dead_after_s, "the successor's heartbeat under the same name")
            with pytest.raises(WorkerLost):
                await asyncio.wait_for(follow, dead_after_s)
            assert time.monotonic() - killed < dead_after_s  # before the first one's heartbeat would expire
    finally:
        doomed.close()
        if successor is not None:
            successor.close()


async def test_a_message_of_a_consumer_that_died_before_claiming_runs_once_elsewhere(
    redis_url: str, client: aioredis.Redis
) -> None:
    config = settings(redis_url, worker_dead_after_s=DEAD_AFTER_S, queue_timeout_s=10)
    seen: list[RunSpec] = []

    def handler(spec: RunSpec) -> RunOutcome:
        seen.append(spec)
        return ok(b"ran")

    first, _ = make_worker(config.model_copy(update={"worker_name": "w1"}), handler)
    second, _ = make_worker(config.model_copy(update={"worker_name": "w2"}), handler)
    async with replica(config) as backend:
        await ensure_group(client)
        job = await backend.submit("run", spec())
        taken = await client.xreadgroup(GROUP, "ghost", {JOBS: ">"}, count=1)  # delivered, never claimed
        assert taken and taken[0][1]
        async with running(first), running(second):
            began = time.monotonic()
            end = await asyncio.wait_for(backend.follow(job, None), 10)
            assert json.loads(json.dumps(end))["outcome"]["stdout"] == "cmFu"  # b"ran"
            assert time.monotonic() - began < DEAD_AFTER_S + 2.0
            await asyncio.sleep(3 * DEAD_AFTER_S)  # both workers keep reclaiming: nothing runs it again
            assert len(seen) == 1
            assert await client.xlen(JOBS) == 0
            assert (await client.xpending(JOBS, GROUP))["pending"] == 0


async def test_a_running_job_of_a_dead_worker_is_ended_by_another_workers_reclaim(
    redis_url: str, client: aioredis.Redis, doomed: WorkerProcess
) -> None:
    config = settings(redis_url, worker_dead_after_s=DEAD_AFTER_S, worker_name="survivor")
    seen: list[RunSpec] = []

    def handler(spec: RunSpec) -> RunOutcome:
        seen.append(spec)
        return ok()

    survivor, _ = make_worker(config, handler)
    async with replica(config) as backend:
        job = await backend.submit("run", spec())  # not followed: the reclaim alone must end it
        await wait_for(lambda: client.get(owner_key(job)), 10, "the doomed worker to take the job")
        async with running(survivor):
            assert worker_name((await client.get(owner_key(job))).decode()) == doomed.name
            doomed.kill()

            async def ended() -> bool:
                return any(f.get("t") == "error" for f in await frames(client, job))

            await wait_for(ended, 3 * DEAD_AFTER_S + 2, "the reclaim's error frame")
            error = [f for f in await frames(client, job) if f.get("t") == "error"]
            assert len(error) == 1 and error[0]["error"] == "WorkerLost"
            assert not seen  # not run again
            await wait_for(_drained(client), 3, "the message to be acknowledged")
            assert await client.exists(reply_key(job))


def _drained(client: aioredis.Redis) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return bool(await client.xlen(JOBS) == 0 and (await client.xpending(JOBS, GROUP))["pending"] == 0)

    return check


async def test_a_drained_worker_removes_its_heartbeat(redis_url: str, client: aioredis.Redis) -> None:
    config = settings(redis_url, worker_name="polite")
    worker, _ = make_worker(config, lambda s: ok())
    async with running(worker):
        assert await client.exists(worker_key("polite"))
    assert not await client.exists(worker_key("polite"))
    assert await client.zscore("sandbox:workers", "polite") is None


async def test_a_reclaimed_job_waiting_for_a_slot_is_not_reclaimed_again(redis_url: str) -> None:
    """A full worker reclaims a dead consumer's message and waits for a slot: its reclaim loop must not start
    it a second time meanwhile (the duplicate would drop the running job's entry: no cancel, no heartbeat)."""
    config = settings(redis_url, worker_dead_after_s=DEAD_AFTER_S, max_concurrency=2, queue_timeout_s=30)
    gates = {code: asyncio.Event() for code in (b"A", b"B", b"ghost")}
    started = {code: asyncio.Event() for code in gates}
    cancelled: list[bytes] = []

    async def handler(spec: RunSpec) -> RunOutcome:
        code = spec.files[0].data
        started[code].set()
        try:
            await gates[code].wait()
        except asyncio.CancelledError:
            cancelled.append(code)
            raise
        return ok(code)

    worker, _ = make_worker(config, handler)
    async with replica(config) as backend:
        await ensure_group(backend.redis)
        ghost = await backend.submit("run", spec(b"ghost"))
        assert await backend.redis.xreadgroup(GROUP, "ghost", {JOBS: ">"}, count=1)
        async with running(worker):
            first = asyncio.create_task(backend.run(spec(b"A")))
            second = asyncio.create_task(backend.run(spec(b"B")))
            await asyncio.wait_for(asyncio.gather(started[b"A"].wait(), started[b"B"].wait()), 5)
            await asyncio.sleep(5 * DEAD_AFTER_S)  # reclaimed, waiting for a slot, the reclaim loop going on
            follow = asyncio.create_task(backend.follow(ghost, None))
            gates[b"A"].set()
            await asyncio.wait_for(first, 5)
            await asyncio.wait_for(started[b"ghost"].wait(), 5)
            gates[b"B"].set()
            await asyncio.wait_for(second, 5)
            await asyncio.sleep(1.5)  # a duplicate start would take the freed slot now
            assert ghost in worker._running
            follow.cancel()
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(follow, 5)
            assert cancelled == [b"ghost"]
