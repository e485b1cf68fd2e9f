"""Sessions pinned to a worker, reached through ``RemoteSession`` from a replica."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis.asyncio as aioredis

from sandbox.cluster.dispatch import RemoteSession, worker_key, worker_name
from sandbox.engine import RunOutcome, RunSpec
from sandbox.errors import NotFound, PoolExhausted, WorkerLost
from sandbox.models import Status
from tests.unit.cluster.harness import WorkerProcess, make_worker, ok, replica, running, settings, spec, wait_for

pytestmark = pytest.mark.anyio


class Counter:
    """Cells answer how many cells ran before them in the same session (its "state")."""

    def __init__(self) -> None:
        self.cells = 0

    def __call__(self, spec: RunSpec) -> RunOutcome:
        if spec.mode != "cell":
            return ok()
        self.cells += 1
        if spec.files[0].data == b"boom":
            return RunOutcome(status=Status.TIMEOUT, message="cell took too long")
        return ok(f"{self.cells}\n".encode())


async def test_open_cells_files_and_close(redis_url: str) -> None:
    config = settings(redis_url, max_concurrency=1, queue_timeout_s=0.3)
    worker, fake = make_worker(config, Counter())
    async with running(worker), replica(config) as backend:
        session = await backend.open_session(spec(mode="session", env={"K": "v"}), 60)
        assert isinstance(session, RemoteSession)
        assert session.worker == worker.ident and session.holder
        assert await session.alive()
        with pytest.raises(PoolExhausted):  # the session holds the worker's one slot
            await backend.run(spec())
        assert fake.specs[0].env == {"K": "v"}

        outputs = []
        for code in (b"x = 1", b"x += 1"):
            async with session.acquire() as lease:
                outputs.append((await lease.run(spec(code, mode="cell"))).stdout)
        assert outputs == [b"1\n", b"2\n"]

        await session.put_file("data/in.txt", b"\x00hello")
        assert await session.get_file("data/in.txt") == b"\x00hello"
        assert [item.path for item in (await session.list_files()).items] == ["data/in.txt", "main.py"]
        with pytest.raises(NotFound):
            await session.get_file("missing")
        assert not session.ended  # a NotFound file does not end the session

        await session.close()
        assert session.ended and not await session.alive()
        assert (await asyncio.wait_for(backend.run(spec()), 5)).status is Status.OK  # its slot came back
        assert fake.sessions[0].ended


async def test_a_cell_that_ends_the_session_ends_it_on_both_sides(redis_url: str) -> None:
    config = settings(redis_url, max_concurrency=1)
    worker, _ = make_worker(config, Counter())
    async with running(worker), replica(config) as backend:
        session = await backend.open_session(spec(mode="session"), 60)
        async with session.acquire() as lease:
            outcome = await lease.run(spec(b"boom", mode="cell"))
        assert outcome.status is Status.TIMEOUT
        assert session.ended
        assert (await asyncio.wait_for(backend.run(spec()), 5)).status is Status.OK  # its slot came back
        assert not worker._sessions


async def test_a_second_replica_reaches_the_session_by_its_ids(redis_url: str) -> None:
    config = settings(redis_url)
    worker, _ = make_worker(config, Counter())
    async with running(worker), replica(config) as first, replica(config) as second:
        opened = await first.open_session(spec(mode="session"), 60)
        assert isinstance(opened, RemoteSession)
        await opened.put_file("a", b"1")
        other = RemoteSession(second, opened.worker, opened.session, opened.instance)
        assert await other.get_file("a") == b"1"
        await other.close()
        with pytest.raises(NotFound):  # gone on the worker: the first replica's handle learns it
            await opened.get_file("a")
        assert opened.ended


async def test_the_session_of_a_killed_worker_is_worker_lost(redis_url: str) -> None:
    config = settings(redis_url)
    client = aioredis.Redis.from_url(redis_url)
    process = WorkerProcess(redis_url, f"holder-{uuid.uuid4().hex[:6]}")
    try:
        await process.ready(client)
        async with replica(config) as backend:
            session = await backend.open_session(spec(mode="session"), 60)
            assert isinstance(session, RemoteSession) and worker_name(session.worker) == process.name
            async with session.acquire() as lease:
                assert (await lease.run(spec(mode="cell"))).stdout == b"cell\n"
            process.kill()
            await wait_for(lambda: _gone(client, process.name), 5, "the heartbeat to expire")
            with pytest.raises(WorkerLost):
                async with session.acquire() as lease:
                    await lease.run(spec(mode="cell"))
            assert session.ended
            assert not await session.alive()
            with pytest.raises(Exception):  # noqa: B017 - ended: no call reaches a worker any more
                await session.get_file("a")
            await asyncio.wait_for(session.close(), 2)  # closing a lost session is quiet
    finally:
        process.close()
        await client.aclose()


async def test_alive_is_false_once_the_workers_heartbeat_expired(redis_url: str) -> None:
    config = settings(redis_url)
    client = aioredis.Redis.from_url(redis_url)
    process = WorkerProcess(redis_url, f"holder-{uuid.uuid4().hex[:6]}")
    try:
        await process.ready(client)
        async with replica(config) as backend:
            session = await backend.open_session(spec(mode="session"), 60)
            assert await session.alive()
            process.kill()
            await wait_for(lambda: _gone(client, process.name), 5, "the heartbeat to expire")
            assert not await session.alive()
            assert session.ended
    finally:
        process.close()
        await client.aclose()


async def _gone(client: aioredis.Redis, name: str) -> bool:
    return not await client.exists(worker_key(name))


async def test_the_session_directory_holds_no_secret_and_routes_to_the_worker(redis_url: str) -> None:
    config = settings(redis_url)
    worker, fake = make_worker(config, Counter())
    secret = "directory-must-not-hold-this"
    async with running(worker), replica(config) as first, replica(config) as second:
        opening = spec(mode="session", env={"TOKEN": secret})
        session = await first.open_session(opening, 60)
        assert fake.specs[0].env == {"TOKEN": secret}  # the worker's interpreter got it
        await first.share_session("s1", session, opening, {"key_id": "k1", "cells": 0}, 60)
        for key in await first.redis.keys("*"):
            if await first.redis.type(key) == b"string":
                assert secret.encode() not in (await first.redis.get(key) or b"")
        assert [entry["key_id"] for entry in await second.shared_sessions("k1")] == ["k1"]
        assert await second.shared_sessions("k2") == []
        found = await second.shared_session("s1")
        assert found is not None
        adopted, adopted_spec, record = found
        assert adopted_spec.env == {} and adopted_spec.files == () and adopted_spec.image == opening.image
        assert record["cells"] == 0
        await adopted.put_file("x", b"2")  # reaches the same container through the other replica
        assert await session.get_file("x") == b"2"
        assert await second.touch_session("s1", {"cells": 3})
        assert (await second.shared_sessions("k1"))[0]["cells"] == 3
        await second.unshare_session("s1", "k1")
        assert await first.shared_session("s1") is None and await first.shared_sessions("k1") == []
        await session.close()
