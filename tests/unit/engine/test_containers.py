"""A container whose stream ended (before its runner greeted, or during a run): the engine's doing (503) or not."""

from __future__ import annotations

import signal
import socket
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from sandbox.config import Settings
from sandbox.engine.channel import RunnerChannel, StaleContainer
from sandbox.engine.containers import DockerBackend
from sandbox.engine.docker import Container
from sandbox.engine.spec import RunOutcome
from sandbox.errors import CapacityUnavailable, DockerFailing, DockerUnavailable, EngineError
from sandbox.models import Status
from tests.unit.helpers import make_limits

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


# ------------------------------------------------------------ the stream ends in the middle of a run


def cut_mid_run(engine: Engine) -> Container:
    """A greeted container whose runner's end stops sending (no result) once the run is sent."""
    ours, theirs = socket.socketpair()
    theirs.shutdown(socket.SHUT_WR)  # our reads see the end; our send still lands
    ours.setblocking(False)
    container = Container("c0ffee", ours, engine, keepalive=theirs)  # type: ignore[arg-type]
    return container


async def run_cut(engine: Engine, *, killed_by_us: bool = False) -> RunOutcome:
    container = cut_mid_run(engine)
    container.killed = killed_by_us
    channel = RunnerChannel(container, kill_grace_s=0.5, answer_timeout_s=1)
    try:
        outcome, _ = await channel.run(b"run", make_limits(wall_time_s=2), None)
    finally:
        container.close_socket()
    return outcome


@pytest.mark.parametrize(
    ("state", "verdict"),
    [
        (GONE, DockerUnavailable),  # the engine went away during the run: 503, counted
        (RUNNING, DockerFailing),  # the engine cut the stream of a container that still runs
        (KILLED, DockerFailing),  # an engine shutting down SIGKILLed it
    ],
    ids=["engine gone", "still running", "killed by the engine"],
)
async def test_a_run_whose_stream_the_engine_ended_is_a_capacity_refusal(
    state: dict[str, Any] | None, verdict: type[Exception]
) -> None:
    with pytest.raises(verdict) as raised:
        await run_cut(Engine(state))
    assert "ended during the run" in raised.value.message
    assert isinstance(raised.value, CapacityUnavailable)


@pytest.mark.parametrize(
    ("state", "killed_by_us", "status"),
    [
        (KILLED, True, Status.INTERNAL_ERROR),  # we killed it (a closed session): not the engine's doing
        (CRASHED, False, Status.INTERNAL_ERROR),  # the runner failed: ours
        (OOM, False, Status.MEMORY_EXCEEDED),  # the program's memory: its own verdict
        (None, False, Status.INTERNAL_ERROR),  # removed behind our back
    ],
    ids=["killed by us", "crashed", "oom", "removed"],
)
async def test_a_run_whose_stream_ended_for_other_reasons_keeps_its_verdict(
    state: dict[str, Any] | None, killed_by_us: bool, status: Status
) -> None:
    engine = Engine(state) if state is not None else Removed()
    outcome = await run_cut(engine, killed_by_us=killed_by_us)
    assert outcome.status is status


async def test_a_container_the_oom_killer_took_whole_reports_sigkill() -> None:
    """Under gVisor the OOM killer takes the sandbox, runner included: no report, yet a SIGKILL."""
    outcome = await run_cut(Engine(OOM))
    assert outcome.status is Status.MEMORY_EXCEEDED
    assert outcome.signal == signal.SIGKILL and outcome.exit_code is None


class Removed(Engine):
    """The engine answers, but the container is gone (404)."""

    def __init__(self) -> None:
        super().__init__({})

    def inspect(self, container_id: str) -> dict[str, Any]:
        raise EngineError(f"inspect a container: No such container: {container_id}")
