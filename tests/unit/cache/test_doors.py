"""`cache: true` through the doors on a FakeBackend: REST (record, GET, listing, events, 422, /metrics) and MCP."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from mcp import Client

from sandbox.api.app import create_app
from sandbox.config import Settings
from sandbox.engine import FakeBackend, RunOutcome
from sandbox.executions import ExecutionManager
from sandbox.mcp import Door, build_mcp, local_key
from sandbox.models import Status
from sandbox.service import build_service
from sandbox.sessions import SessionManager
from sandbox.store import Store
from tests.unit.api.test_execution_events import events

pytestmark = pytest.mark.anyio


def engine_answering() -> FakeBackend:
    return FakeBackend(lambda spec: RunOutcome(status=Status.OK, exit_code=0, stdout=b"out\n", wall_ms=5))


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, FakeBackend, str]]:
    settings = Settings(state_dir=tmp_path, validation_workers=0, pool_size=0, metrics_access="open")
    engine = engine_answering()
    app = create_app(settings, backend=engine)
    async with app.router.lifespan_context(app):
        store = Store(settings.database)
        key = store.create_key("k", "standard", 8, 10_000)[1]
        other = store.create_key("other", "standard", 8, 10_000)[1]
        store.close()
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox", headers=headers) as client:
            yield client, engine, other


async def test_rest_a_second_identical_request_is_a_marked_hit(
    world: tuple[httpx.AsyncClient, FakeBackend, str],
) -> None:
    api, engine, other = world
    body = {"code": "print('x')", "cache": True}
    first = (await api.post("/v1/executions", json=body)).json()
    second = (await api.post("/v1/executions", json=body)).json()
    assert len(engine.specs) == 1
    assert (first["cached"], first["cached_from"]) == (False, None)
    assert (second["cached"], second["cached_from"], second["stdout"]) == (True, first["id"], "out\n")
    assert second["id"] != first["id"]
    got = (await api.get(f"/v1/executions/{second['id']}")).json()
    assert (got["cached"], got["cached_from"]) == (True, first["id"])
    items = (await api.get("/v1/executions")).json()["items"]
    assert {item["id"]: item["cached_from"] for item in items} == {first["id"]: None, second["id"]: first["id"]}
    seen = await events(api, second["id"])
    assert [kind for _, kind, _ in seen] == ["stdout", "result"]
    assert seen[-1][2]["cached_from"] == first["id"]  # type: ignore[index]
    # Another key: the same request runs; it is not told of the first.
    theirs = (await api.post("/v1/executions", json=body, headers={"Authorization": f"Bearer {other}"})).json()
    assert (theirs["cached"], theirs["cached_from"]) == (False, None) and len(engine.specs) == 2
    # Started without waiting (202) and followed: the same hit.
    started = await api.post("/v1/executions", params={"wait": "false"}, json=body)
    assert started.status_code == 202 and started.json()["state"] == "running"
    followed = await events(api, started.json()["id"])
    assert followed[-1][2]["cached_from"] == first["id"] and len(engine.specs) == 2  # type: ignore[index]
    metrics = (await api.get("/metrics")).text
    assert 'sandbox_result_cache_lookups_total{outcome="hit"}' in metrics


async def test_rest_cache_with_secrets_is_a_422_naming_both(world: tuple[httpx.AsyncClient, FakeBackend, str]) -> None:
    api, engine, _ = world
    response = await api.post("/v1/executions", json={"code": "print(1)", "cache": True, "secrets": ["TOKEN"]})
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "rejected" and "cache cannot be combined with secrets" in problem["message"]
    assert engine.specs == []


async def test_mcp_execute_with_cache_says_it_was_cached(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, validation_workers=0, pool_size=0)
    store = Store(settings.database)
    engine = engine_answering()
    service = build_service(settings, store=store, backend=engine)
    async with service:
        executions = ExecutionManager(service)
        sessions = SessionManager(service, executions)
        door = Door(service, store, executions, sessions, stdio_key=local_key(store, "standard", 8, 1000))
        async with Client(build_mcp(lambda: door, settings)) as client:
            first = await client.call_tool("execute", {"code": "print('x')", "cache": True})
            second = await client.call_tool("execute", {"code": "print('x')", "cache": True})
            refused = await client.call_tool("execute", {"code": "print(1)", "cache": True, "secrets": ["TOKEN"]})
        await executions.aclose()
        await sessions.aclose()
    store.close()
    assert len(engine.specs) == 1
    origin = first.structured_content["id"]
    assert second.structured_content["cached"] is True and second.structured_content["cached_from"] == origin
    assert f"cached: the result of execution {origin}" in second.content[0].text
    assert "cached" not in first.content[0].text
    assert refused.is_error
    assert "cache cannot be combined with secrets" in json.loads(refused.content[0].text)["message"]
