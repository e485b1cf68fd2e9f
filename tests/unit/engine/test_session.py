"""DockerSession's bookkeeping with a stand-in channel: what ends a session, and what does not."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from sandbox.engine.session import DockerSession
from sandbox.errors import EngineError, NotFound, RequestRejected

pytestmark = pytest.mark.anyio


class StubChannel:
    """Answers file operations as told: block until cancelled, refuse, or fail."""

    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour
        self.sent: list[bytes] = []

    async def send(self, message: bytes) -> None:
        self.sent.append(message)

    async def call(self, message: bytes) -> bytes:
        self.sent.append(message)
        if self.behaviour == "block":
            await asyncio.Event().wait()
        if self.behaviour == "refuse":
            raise RequestRejected("ValueError: 'link' is not a regular file")
        raise EngineError("the session's container ended")


def make(behaviour: str) -> tuple[DockerSession, list[DockerSession]]:
    ended: list[DockerSession] = []

    container: Any = type("Container", (), {"id": "c" * 64})()  # the session never touches its socket
    session = DockerSession(container, StubChannel(behaviour), cpu_budget_s=60, on_end=ended.append)  # type: ignore[arg-type]
    return session, ended


async def test_a_cancelled_file_operation_ends_the_session() -> None:
    """Its answer may still be on the way: read as the next cell's result, it would lie."""
    session, ended = make("block")
    task = asyncio.create_task(session.put_file("a.txt", b"x"))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert session.ended and ended == [session]
    with pytest.raises(NotFound, match="the session has ended"):
        await session.get_file("a.txt")


async def test_a_refused_path_does_not_end_the_session() -> None:
    session, ended = make("refuse")
    with pytest.raises(RequestRejected):
        await session.get_file("link")
    assert not session.ended and ended == []


async def test_a_lost_container_ends_the_session() -> None:
    session, ended = make("fail")
    with pytest.raises(NotFound, match="the session has ended: its interpreter is gone"):
        await session.put_file("a.txt", b"x")
    assert session.ended and ended == [session]


async def test_closing_a_session_kills_its_running_cell_at_once() -> None:
    from sandbox.engine import RunFile, RunSpec
    from sandbox.models import EffectiveLimits, Status

    gone = asyncio.Event()

    class Running(StubChannel):
        async def run(self, message: bytes, limits: object, on_output: object, **options: object) -> object:
            await gone.wait()  # the container is removed under it
            raise OSError(104, "Connection reset by peer")

    ended: list[DockerSession] = []

    class Killable:
        id = "c" * 64

        async def kill(self) -> None:  # the runner dies: the stream under the running cell ends
            gone.set()

    container: Any = Killable()
    session = DockerSession(container, Running("block"), cpu_budget_s=60, on_end=ended.append)  # type: ignore[arg-type]
    limits = EffectiveLimits(
        wall_time_s=60,
        cpu_time_s=5,
        memory_mb=256,
        processes=64,
        workdir_mb=64,
        stdout_bytes=99,
        stderr_bytes=99,
        compile_wall_time_s=30,
        compile_cpu_time_s=20,
        compile_memory_mb=512,
    )
    spec = RunSpec(image="i", mode="cell", argv=(), files=(RunFile("main.py", b"import time"),), limits=limits)

    async def cell() -> object:
        async with session.acquire() as lease:
            return await lease.run(spec)

    running = asyncio.create_task(cell())
    await asyncio.sleep(0.01)
    await asyncio.wait_for(session.close(), 1)  # does not wait for the cell
    outcome = await asyncio.wait_for(running, 1)
    assert outcome.status is Status.KILLED and "closed while this cell ran" in outcome.message  # type: ignore[attr-defined]
    assert ended == [session]
