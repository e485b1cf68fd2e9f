"""DockerBackend's verdict on a container that died before its runner greeted: the engine's fault or ours."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from sandbox.config import Settings
from sandbox.engine.channel import StaleContainer
from sandbox.engine.containers import DockerBackend
from sandbox.engine.docker import Container
from sandbox.errors import CapacityUnavailable, DockerUnavailable

pytestmark = pytest.mark.anyio


class Engine:
    """Answers pings or not; records what is discarded."""

    def __init__(self, up: bool) -> None:
        self.up = up
        self.discarded: list[Container] = []

    async def ping(self) -> None:
        if not self.up:
            raise DockerUnavailable("ping the Docker engine: the Docker engine does not answer")

    def discard(self, container: Container) -> None:
        self.discarded.append(container)
        container.close_socket()


def dead_container(engine: Engine) -> Container:
    """A container whose runner's end is closed before it says hello."""
    ours, theirs = socket.socketpair()
    theirs.close()
    ours.setblocking(False)
    return Container("c0ffee", ours, engine, keepalive=None)  # type: ignore[arg-type]


@pytest.mark.parametrize("up", [False, True], ids=["engine gone", "engine answers"])
async def test_a_container_dead_before_greeting_is_a_capacity_refusal_only_when_the_engine_is_gone(
    tmp_path: Path, up: bool
) -> None:
    backend = DockerBackend(Settings(state_dir=tmp_path, start_timeout_s=2), owner="unit")
    engine = Engine(up)
    backend.engine = engine  # type: ignore[assignment]
    container = dead_container(engine)
    with pytest.raises(StaleContainer if up else DockerUnavailable) as raised:
        await backend._greet(container)
    assert "ended before its runner greeted" in raised.value.message
    assert isinstance(raised.value, CapacityUnavailable) is not up  # 503 + Retry-After, counted by the breaker
    assert engine.discarded == [container]
