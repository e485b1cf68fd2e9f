"""A run's container is removed once its answer is sent (``sandbox.aftercare``), and always: ``aclose``
starts the removals still waiting at once."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from types import SimpleNamespace

import docker.errors
import pytest
import requests

from sandbox import aftercare
from sandbox.engine.docker import Container, DockerEngine, ManagedContainer

pytestmark = pytest.mark.anyio


class Api:
    def __init__(self) -> None:
        self.removed: dict[str, float] = {}
        self.lock = threading.Lock()

    def remove_container(self, container_id: str, force: bool) -> None:
        with self.lock:
            self.removed[container_id] = time.monotonic()


def engine_with(api: Api) -> DockerEngine:
    engine = DockerEngine(threads=2, timeout_s=5)
    engine._client = SimpleNamespace(api=api, close=lambda: None)  # type: ignore[assignment]
    return engine


def container(engine: DockerEngine, container_id: str) -> Container:
    ours, theirs = socket.socketpair()
    engine._mark(engine._held, container_id, True)  # as a creation does
    return Container(container_id, ours, engine, keepalive=theirs)


async def until_removed(engine: DockerEngine, container_id: str) -> None:
    deadline = time.monotonic() + 10
    while engine.owns(ManagedContainer(container_id, {}, f"sandbox-{container_id}")) and time.monotonic() < deadline:
        await asyncio.sleep(0.005)


async def test_a_deferred_removal_starts_when_the_answer_is_out_and_the_container_stays_ours_meanwhile() -> None:
    api = Api()
    engine = engine_with(api)
    c = container(engine, "c1")
    with aftercare.answer_window() as window:
        engine.discard(c, after_answer=True)
        assert c.sock.fileno() == -1  # our end is closed at once
        await asyncio.sleep(0.1)  # longer than the fallback delay: the window holds it
        assert "c1" not in api.removed
        assert engine.owns(ManagedContainer("c1", {}, "sandbox-c1"))  # the janitor leaves it alone
        answered = time.monotonic()
        window.close()  # the door sent the answer
    await until_removed(engine, "c1")
    assert api.removed["c1"] >= answered
    assert not engine.owns(ManagedContainer("c1", {}, "sandbox-c1"))  # removed: no longer ours
    await engine.aclose()


async def test_outside_a_window_the_removal_starts_after_the_short_fallback_delay() -> None:
    api = Api()
    engine = engine_with(api)
    discarded = time.monotonic()
    engine.discard(container(engine, "c4"), after_answer=True)
    await until_removed(engine, "c4")
    assert aftercare.FALLBACK_S <= api.removed["c4"] - discarded < 2
    await engine.aclose()


async def test_a_window_that_never_closes_holds_the_removal_at_most_its_longest_wait() -> None:
    api = Api()
    engine = engine_with(api)
    discarded = time.monotonic()
    token = aftercare._window.set(aftercare.AnswerWindow(max_wait_s=0.2))  # a door that never says it answered
    try:
        engine.discard(container(engine, "c5"), after_answer=True)
    finally:
        aftercare._window.reset(token)
    await until_removed(engine, "c5")
    assert 0.2 <= api.removed["c5"] - discarded < 2
    await engine.aclose()


async def test_closing_the_engine_removes_what_waits_for_an_answer_at_once() -> None:
    api = Api()
    engine = engine_with(api)
    token = aftercare._window.set(aftercare.AnswerWindow(max_wait_s=60))
    try:
        engine.discard(container(engine, "c2"), after_answer=True)
    finally:
        aftercare._window.reset(token)
    started = time.monotonic()
    await engine.aclose()
    assert "c2" in api.removed
    assert time.monotonic() - started < 2


class RacingApi(Api):
    """Docker 20.10's race: the first removal meets a container that stopped while it was being killed."""

    def __init__(self) -> None:
        super().__init__()
        self.tries = 0

    def remove_container(self, container_id: str, force: bool) -> None:
        self.tries += 1
        if self.tries == 1:
            response = requests.Response()
            response.status_code = 500
            raise docker.errors.APIError(
                "500 Server Error",
                response=response,
                explanation=f"Could not kill running container {container_id}, cannot remove - "
                f"Container {container_id} is not running",
            )
        super().remove_container(container_id, force)


async def test_the_engines_kill_race_is_tried_again_not_left_behind() -> None:
    api = RacingApi()
    engine = engine_with(api)
    await engine.remove("c3")
    assert "c3" in api.removed and api.tries == 2
    await engine.aclose()


async def test_a_container_is_removed_once_its_runner_has_ended_and_not_before() -> None:
    """``ended_within_s``: the removal waits for the end of the runner's stream (it left), bounded."""
    api = Api()
    engine = engine_with(api)
    c = container(engine, "c5")
    c.sock.setblocking(False)  # as the attach socket is
    c.keepalive.sendall(b"late bytes are dropped")
    engine.discard(c, ended_within_s=10)
    await asyncio.sleep(0.2)
    assert "c5" not in api.removed  # the runner is still there
    assert engine.owns(ManagedContainer("c5", {}, "sandbox-c5"))
    ended = time.monotonic()
    c.keepalive.close()  # the runner leaves: its stream ends
    await engine.aclose()
    assert api.removed["c5"] - ended < 2
    assert c.sock.fileno() == -1


async def test_a_runner_that_does_not_end_is_removed_at_the_timeout() -> None:
    api = Api()
    engine = engine_with(api)
    c = container(engine, "c6")
    c.sock.setblocking(False)
    started = time.monotonic()
    engine.discard(c, ended_within_s=0.3)
    await until_removed(engine, "c6")
    assert 0.3 <= api.removed["c6"] - started < 5
    await engine.aclose()


async def test_closing_the_engine_does_not_wait_for_a_runner_to_end() -> None:
    api = Api()
    engine = engine_with(api)
    c = container(engine, "c8")
    c.sock.setblocking(False)
    started = time.monotonic()
    engine.discard(c, ended_within_s=30)
    await engine.aclose()  # the removal starts at once, and its kill ends the runner
    assert api.removed["c8"] - started < 1


async def test_a_container_that_ended_still_waits_for_its_answer() -> None:
    api = Api()
    engine = engine_with(api)
    c = container(engine, "c7")
    c.sock.setblocking(False)
    with aftercare.answer_window() as window:
        engine.discard(c, after_answer=True, ended_within_s=10)
        c.keepalive.close()  # the runner leaves
        await asyncio.sleep(0.2)
        assert "c7" not in api.removed  # the answer is not out yet
        assert c.sock.fileno() == -1
        answered = time.monotonic()
        window.close()
    await until_removed(engine, "c7")
    assert api.removed["c7"] >= answered
    await engine.aclose()
