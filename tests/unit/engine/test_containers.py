"""DockerBackend's verdict on a fresh container that ended before its runner greeted: the engine's doing or ours."""

from __future__ import annotations

import socket
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from sandbox.config import Settings
from sandbox.engine.channel import StaleContainer
from sandbox.engine.containers import DockerBackend
from sandbox.engine.docker import Container
from sandbox.errors import CapacityUnavailable, DockerFailing, DockerUnavailable

pytestmark = pytest.mark.anyio

GONE = None  # the engine does not answer


class Engine:
    """Answers ``inspect_container`` with ``state`` (or fails as a gone engine); records what is discarded."""

    def __init__(self, state: dict[str, Any] | None) -> None:
        self.state = state
        self.discarded: list[Container] = []
        self.api = SimpleNamespace(inspect_container=self.inspect)

    def inspect(self, container_id: str) -> dict[str, Any]:
        if self.state is GONE:
            raise DockerUnavailable("inspect a container: the Docker engine does not answer")
        return {"Id": container_id, "State": self.state}

    async def call(self, action: str, fn: Any, *args: Any) -> Any:
        return fn(*args)

    def discard(self, container: Container) -> None:
        self.discarded.append(container)
        container.close_socket()


def backend_with(engine: Engine, tmp_path: Path) -> DockerBackend:
    backend = DockerBackend(Settings(state_dir=tmp_path, start_timeout_s=2), owner="unit")
    backend.engine = engine  # type: ignore[assignment]
    return backend


def dead_container(engine: Engine) -> Container:
    """A container whose runner's end is closed before it says hello."""
    ours, theirs = socket.socketpair()
    theirs.close()
    ours.setblocking(False)
    return Container("c0ffee", ours, engine, keepalive=None)  # type: ignore[arg-type]


RUNNING = {"Status": "running", "Running": True, "ExitCode": 0, "OOMKilled": False}
KILLED = {"Status": "exited", "Running": False, "ExitCode": 137, "OOMKilled": False}
CRASHED = {"Status": "exited", "Running": False, "ExitCode": 1, "OOMKilled": False}
OOM = {"Status": "exited", "Running": False, "ExitCode": 137, "OOMKilled": True}


@pytest.mark.parametrize(
    ("state", "verdict"),
    [
        (GONE, DockerUnavailable),  # the engine stopped: 503, counted by the breaker
        (RUNNING, DockerFailing),  # its stream was cut by a stopping engine
        (KILLED, DockerFailing),  # SIGKILLed from outside (an engine shutting down)
        (CRASHED, StaleContainer),  # the runner itself failed: our bug, 500
        (OOM, StaleContainer),  # a limit the engine could not honour: 500 (known gap)
    ],
    ids=["engine gone", "still running", "killed", "crashed", "oom"],
)
async def test_a_fresh_container_dead_before_greeting_is_blamed_on_the_engine_only_when_it_is_its_doing(
    tmp_path: Path, state: dict[str, Any] | None, verdict: type[Exception]
) -> None:
    engine = Engine(state)
    container = dead_container(engine)
    with pytest.raises(verdict) as raised:
        await backend_with(engine, tmp_path)._greet(container)
    assert "ended before its runner greeted" in raised.value.message
    assert isinstance(raised.value, CapacityUnavailable) is (verdict is not StaleContainer)
    assert engine.discarded == [container]


async def test_a_dead_warm_container_still_sends_the_run_to_the_cold_path(tmp_path: Path) -> None:
    engine = Engine(KILLED)
    container = dead_container(engine)
    assert await backend_with(engine, tmp_path)._greet_warm(container) is None
    assert engine.discarded == [container]
