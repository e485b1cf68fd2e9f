"""The REST door on a FakeBackend: SSE ids and Last-Event-ID, and a blocking run seen by other clients."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx
import pytest

from sandbox.api.app import create_app
from sandbox.config import Settings
from sandbox.engine import FakeBackend, RunOutcome, RunSpec
from sandbox.models import Status
from sandbox.store import Store

pytestmark = pytest.mark.anyio


class Engine(FakeBackend):
    """Answers at once with some output, or holds a run whose code says "hold" until it is cancelled."""

    def __init__(self) -> None:
        super().__init__(self.answer_run)
        self.holding = asyncio.Event()

    async def answer_run(self, spec: RunSpec) -> RunOutcome:
        if b"hold" in spec.files[0].data:
            self.holding.set()
            await asyncio.sleep(60)
        return RunOutcome(status=Status.OK, exit_code=0, stdout=b"out\n", stderr=b"err\n")


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Engine]]:
    settings = Settings(state_dir=tmp_path, validation_workers=0, pool_size=0)
    engine = Engine()
    app = create_app(settings, backend=engine)
    async with app.router.lifespan_context(app):
        key = Store(settings.database).create_key("k", "standard", 8, 10_000)[1]
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox", headers=headers) as client:
            yield client, engine


async def events(api: httpx.AsyncClient, execution_id: str, last: str | None = None) -> list[tuple[int, str, object]]:
    """(id, kind, data) of every event the stream sends, to its end."""
    headers = {"Last-Event-ID": last} if last is not None else {}
    got: list[tuple[int, str, object]] = []
    async with api.stream("GET", f"/v1/executions/{execution_id}/events", headers=headers) as response:
        assert response.status_code == 200
        fields: dict[str, str] = {}
        async for line in response.aiter_lines():
            if not line:
                got.append((int(fields["id"]), fields["event"], json.loads(fields["data"])))
                fields = {}
            else:
                name, _, value = line.partition(": ")
                fields[name] = value
    return got


async def test_events_carry_ids_and_resume_after_the_last_one_seen(world) -> None:
    api, _ = world
    execution_id = (await api.post("/v1/executions", json={"code": "print(1)"})).json()["id"]
    everything = await events(api, execution_id)
    assert [(n, kind) for n, kind, _ in everything] == [(1, "stdout"), (2, "stderr"), (3, "result")]
    assert await events(api, execution_id, "") == everything  # EventSource's "no id yet"
    assert await events(api, execution_id, "0") == everything
    assert await events(api, execution_id, "1") == everything[1:]
    assert await events(api, execution_id, " 2 ") == everything[2:]
    assert await events(api, execution_id, "3") == []  # the result was seen: the stream ends at once


@pytest.mark.parametrize(
    ("last", "says"),
    [("4", "past the last event"), ("x", "whole number"), ("-1", "whole number"), ("1e3", "whole number"),
     ("9" * 40, "whole number"), ("٣".encode(), "whole number")],
)  # fmt: skip
async def test_a_bad_last_event_id_is_a_400_naming_it(world, last: str | bytes, says: str) -> None:
    api, _ = world
    execution_id = (await api.post("/v1/executions", json={"code": "print(1)"})).json()["id"]
    response = await api.get(f"/v1/executions/{execution_id}/events", headers={"Last-Event-ID": last})
    assert response.status_code == 400 and response.headers["content-type"] == "application/problem+json"
    assert "Last-Event-ID" in response.json()["detail"] and says in response.json()["detail"]


async def test_a_blocking_run_is_listed_while_it_runs_and_another_client_can_cancel_it(world) -> None:
    api, engine = world
    blocking = asyncio.create_task(api.post("/v1/executions", json={"code": "print('hold')"}))
    with anyio.fail_after(10):
        await engine.holding.wait()
    page = (await api.get("/v1/executions")).json()
    running = [item for item in page["items"] if item["state"] == "running"]
    assert len(running) == 1 and page["total"] == 1, page
    cancelled = (await api.post(f"/v1/executions/{running[0]['id']}/cancel")).json()
    assert cancelled["status"] == "killed"
    with anyio.fail_after(10):
        answer = await blocking
    assert answer.status_code == 200 and answer.json()["id"] == running[0]["id"]
    assert answer.json()["status"] == "killed" and answer.json()["state"] == "done"
    listed = (await api.get("/v1/executions")).json()
    assert [(i["id"], i["status"]) for i in listed["items"]] == [(running[0]["id"], "killed")]
