"""The circuit breaker seen through the REST door: an engine outage is a fast 503 with Retry-After, then recovery."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx
import pytest

from sandbox.api.app import create_app
from sandbox.config import Settings
from sandbox.engine import FakeBackend, RunOutcome, RunSpec
from sandbox.errors import DockerUnavailable
from sandbox.models import Status
from sandbox.store import Store

pytestmark = pytest.mark.anyio


class Engine(FakeBackend):
    """A fake engine that can be 'stopped': runs then fail as a dead Docker engine's do."""

    def __init__(self) -> None:
        super().__init__(self.answer_or_fail)
        self.down = False
        self.recoveries = 0

    def answer_or_fail(self, spec: RunSpec) -> RunOutcome:
        if self.down:
            raise DockerUnavailable("create a cold container: the Docker engine does not answer")
        return RunOutcome(status=Status.OK, exit_code=0, stdout=b"hi\n")

    def recovered(self) -> None:
        self.recoveries += 1


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Engine]]:
    settings = Settings(state_dir=tmp_path, validation_workers=0, pool_size=0, breaker_failures=3, breaker_open_s=0.5)
    engine = Engine()
    app = create_app(settings, backend=engine)
    async with app.router.lifespan_context(app):
        key = Store(settings.database).create_key("k", "standard", 64, 10_000)[1]
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox", headers=headers) as client:
            yield client, engine


async def test_outage_opens_the_breaker_fast_503s_then_a_probe_closes_it(world) -> None:
    api, engine = world
    assert (await api.post("/v1/executions", json={"code": "print(1)"})).status_code == 200
    engine.down = True
    for _ in range(3):
        failed = await api.post("/v1/executions", json={"code": "print(1)"})
        assert failed.status_code == 503 and failed.json()["code"] == "capacity_unavailable"
    ready = await api.get("/readyz")
    assert ready.status_code == 503 and ready.json()["breaker"] == "open"

    started = time.perf_counter()
    refused = await api.post("/v1/executions", json={"code": "print(1)"})
    assert time.perf_counter() - started < 0.1
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert "circuit breaker open" in refused.json()["message"]
    assert len(engine.specs) == 4  # the refused one never reached the engine

    engine.down = False
    await anyio.sleep(0.55)
    back = await api.post("/v1/executions", json={"code": "print(1)"})
    assert back.status_code == 200 and back.json()["status"] == "ok"
    assert engine.recoveries == 1  # warm containers that died with the engine are replaced
    ready = await api.get("/readyz")
    assert ready.json()["breaker"] == "closed"


async def test_session_cells_are_refused_while_the_breaker_is_open(world) -> None:
    api, engine = world
    session = (await api.post("/v1/sessions", json={})).json()["id"]
    engine.down = True
    for _ in range(3):
        await api.post("/v1/executions", json={"code": "print(1)"})
    cell = await api.post(f"/v1/sessions/{session}/executions", json={"code": "x = 1"})
    assert cell.status_code == 503 and "circuit breaker" in cell.json()["message"]
    put = await api.put(f"/v1/sessions/{session}/files/a.txt", content=b"data")
    assert put.status_code == 503
    opened = await api.post("/v1/sessions", json={})
    assert opened.status_code == 503


async def test_a_long_probe_does_not_hold_the_breaker_and_half_open_is_ready(tmp_path: Path) -> None:
    """A probe is the acquisition, not the run: a 30 s program after an outage blocks nobody (review H3),
    and a half-open breaker leaves the instance ready so traffic can close it (review H1)."""
    settings = Settings(state_dir=tmp_path, validation_workers=0, pool_size=0, breaker_failures=2, breaker_open_s=0.3)
    release = anyio.Event()

    class Slow(Engine):
        async def answer_or_wait(self, spec: RunSpec) -> RunOutcome:
            if spec.files and spec.files[0].data == b"slow()":
                await release.wait()
            return self.answer_or_fail(spec)

    engine = Slow()
    engine.handler = engine.answer_or_wait
    app = create_app(settings, backend=engine)
    async with app.router.lifespan_context(app):
        key = Store(settings.database).create_key("k", "permissive", 64, 10_000)[1]
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox", headers=headers) as api:
            engine.down = True
            for _ in range(2):
                await api.post("/v1/executions", json={"code": "print(1)"})
            assert (await api.get("/readyz")).json()["breaker"] == "open"
            engine.down = False
            await anyio.sleep(0.35)
            ready = await api.get("/readyz")
            assert ready.json()["breaker"] == "half_open" and ready.status_code == 200
            slow = await api.post("/v1/executions?wait=false", json={"code": "slow()", "policy": "permissive"})
            assert slow.status_code == 202
            others = [await api.post("/v1/executions", json={"code": "print(2)"}) for _ in range(3)]
            assert [r.status_code for r in others] == [200, 200, 200]
            release.set()
