"""Graceful shutdown: running executions get the grace, the rest are killed as 'server shutting down'.

On the FakeBackend with a real store (the world of test_execution_stages); the
signal path of a real `sandbox serve` is tested end to end in tests/e2e.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from sandbox.engine import RunOutcome, RunSpec
from sandbox.errors import CapacityUnavailable
from sandbox.models import ExecutionRequest, Limits, Status
from tests.unit.test_execution_stages import World, world_factory  # noqa: F401

pytestmark = pytest.mark.anyio


def sleeper(spec: RunSpec) -> asyncio.Future[RunOutcome]:
    """Runs for the code's number of seconds (the code is a bare float literal)."""

    async def run() -> RunOutcome:
        await asyncio.sleep(float(spec.files[0].data.decode()))
        return RunOutcome(status=Status.OK, exit_code=0, stdout=b"done\n")

    return asyncio.ensure_future(run())


def request(seconds: float) -> ExecutionRequest:
    return ExecutionRequest(code=f"{seconds}", limits=Limits(wall_time_s=30))


async def test_drain_lets_short_runs_finish_and_kills_the_rest(world_factory) -> None:  # noqa: F811
    world: World = world_factory(sleeper)
    caller = world.key("k")
    short = await world.manager.submit(request(0.2), caller)
    long = await world.manager.submit(request(20), caller)
    started = time.monotonic()
    draining = asyncio.create_task(world.manager.drain(1.0))
    await asyncio.sleep(0.05)
    with pytest.raises(CapacityUnavailable, match="shutting down"):
        await world.manager.submit(request(0.1), caller)
    await draining
    assert 1.0 <= time.monotonic() - started < 3
    assert short.view.status is Status.OK
    assert long.view.status is Status.KILLED
    assert long.view.message == "server shutting down; the container was killed"
    await long.saved.wait()
    stored = world.store.get_execution(long.id, caller.key_id)
    assert stored is not None and stored.status is Status.KILLED and "shutting down" in stored.message


async def test_a_drain_with_nothing_running_ends_at_once(world_factory) -> None:  # noqa: F811
    world: World = world_factory(sleeper)
    started = time.monotonic()
    await world.manager.drain(30.0)
    assert time.monotonic() - started < 0.5


async def test_hurry_ends_the_grace(world_factory) -> None:  # noqa: F811
    world: World = world_factory(sleeper)
    caller = world.key("k")
    long = await world.manager.submit(request(20), caller)
    hurry = asyncio.Event()
    started = time.monotonic()
    draining = asyncio.create_task(world.manager.drain(30.0, hurry))
    await asyncio.sleep(0.2)
    hurry.set()
    await draining
    assert time.monotonic() - started < 2
    assert long.view.status is Status.KILLED and "server shutting down" in long.view.message


async def test_first_signal_drains_second_hurries_and_is_not_passed_on(world_factory) -> None:  # noqa: F811
    from sandbox.api.shutdown import GracefulShutdown

    world: World = world_factory(sleeper)
    caller = world.key("k")
    long = await world.manager.submit(request(20), caller)
    passed_on: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda sig, frame: passed_on.append(sig))
    try:
        shutdown = GracefulShutdown(lambda hurry: world.manager.drain(30.0, hurry))
        shutdown.install()
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.sleep(0.2)
        with pytest.raises(CapacityUnavailable):
            await world.manager.submit(request(0.1), caller)
        assert not long.done.is_set()  # within the grace
        os.kill(os.getpid(), signal.SIGTERM)  # at once: the same stop said twice (group + supervisor)
        await asyncio.sleep(0.2)
        assert not long.done.is_set()
        await asyncio.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)  # a second later: an operator who wants it over
        await asyncio.wait_for(shutdown.finish(), 5)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert passed_on == [signal.SIGTERM]  # the first went on to the server (uvicorn), the second did not
    assert long.view.status is Status.KILLED


async def test_another_kind_of_signal_does_not_hurry(world_factory) -> None:  # noqa: F811
    """A terminal's Ctrl-C reaches every worker, then uvicorn's supervisor sends them SIGTERM."""
    from sandbox.api.shutdown import GracefulShutdown

    world: World = world_factory(sleeper)
    caller = world.key("k")
    long = await world.manager.submit(request(2.5), caller)
    previous = {sig: signal.signal(sig, lambda s, f: None) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        shutdown = GracefulShutdown(lambda hurry: world.manager.drain(30.0, hurry))
        shutdown.install()
        os.kill(os.getpid(), signal.SIGINT)
        await asyncio.sleep(1.2)
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(shutdown.finish(), 10)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    assert long.view.status is Status.OK  # it had its grace
