"""DockerSession's bookkeeping with a stand-in channel: what ends a session, and what does not."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from sandbox.engine.session import DockerSession
from sandbox.errors import EngineError, RequestRejected

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

    @asynccontextmanager
    async def slot() -> AsyncIterator[None]:
        yield

    container: Any = type("Container", (), {"id": "c" * 64})()  # the session never touches its socket
    session = DockerSession(container, StubChannel(behaviour), slot, on_end=ended.append)  # type: ignore[arg-type]
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
    with pytest.raises(EngineError, match="the session has ended"):
        await session.get_file("a.txt")


async def test_a_refused_path_does_not_end_the_session() -> None:
    session, ended = make("refuse")
    with pytest.raises(RequestRejected):
        await session.get_file("link")
    assert not session.ended and ended == []


async def test_a_lost_container_ends_the_session() -> None:
    session, ended = make("fail")
    with pytest.raises(EngineError):
        await session.put_file("a.txt", b"x")
    assert session.ended and ended == [session]
