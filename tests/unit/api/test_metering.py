"""Metrics through the REST door on a FakeBackend: executions, refusals, session cells, HTTP labels, /metrics access.

The registry is the process's own (prometheus-client's default), shared by every
test: each test reads a figure before and after and checks the difference.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from starlette.types import Receive, Scope, Send

from sandbox.api import metering
from sandbox.api.app import create_app
from sandbox.config import Settings
from sandbox.engine import FakeBackend, RunOutcome, RunSpec
from sandbox.models import Status
from sandbox.observability import metrics
from sandbox.store import Store

pytestmark = pytest.mark.anyio

OK = RunOutcome(status=Status.OK, exit_code=0, stdout=b"hi\n")
REMOTE = ("203.0.113.7", 40000)  # a documentation address: not loopback


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Api:
    def __init__(self, app: object, key: str, settings: Settings) -> None:
        self.app, self.key, self.settings = app, key, settings

    def client(self, *, key: str | None = "valid", client: tuple[str, int] = ("127.0.0.1", 5000)) -> httpx.AsyncClient:
        token = self.key if key == "valid" else key
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        transport = httpx.ASGITransport(app=self.app, client=client)  # type: ignore[arg-type]
        return httpx.AsyncClient(transport=transport, base_url="http://sandbox", headers=headers)


@asynccontextmanager
async def serving(tmp_path: Path, handler: Callable[[RunSpec], RunOutcome], **settings: object) -> AsyncIterator[Api]:
    config = Settings(state_dir=tmp_path, validation_workers=0, pool_size=0, **settings)  # type: ignore[arg-type]
    app = create_app(config, backend=FakeBackend(handler))
    async with app.router.lifespan_context(app):
        store = Store(config.database)
        key = store.create_key(f"metrics-{time.monotonic_ns()}", "standard", 8, 1000)[1]
        store.close()
        yield Api(app, key, config)


async def settled(name: str, labels: dict[str, str], at_least: float, timeout: float = 5.0) -> float:
    """The figure once it reaches ``at_least`` (an execution is counted when its record stage ends)."""
    deadline = time.monotonic() + timeout
    while (got := value(name, **labels)) < at_least and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    return got


async def test_an_execution_is_counted_once_with_every_stage_timed(tmp_path: Path) -> None:
    ok = {"language": "python", "status": "ok", "policy": "standard"}
    stages = ("admit", "validate", "acquire", "run", "record")
    async with serving(tmp_path, lambda spec: OK) as api, api.client() as client:
        before = value("sandbox_executions_total", **ok)
        timed = {s: value("sandbox_stage_duration_seconds_count", stage=s, language="python") for s in stages}
        response = await client.post("/v1/executions", json={"language": "py", "code": "print('hi')"})
        assert response.status_code == 200 and response.json()["status"] == "ok"
        assert await settled("sandbox_executions_total", ok, before + 1) == before + 1
        await asyncio.sleep(0.3)  # nothing counts it a second time
        assert value("sandbox_executions_total", **ok) == before + 1
        for stage in stages:  # "py" is an alias: labelled with the language's name
            assert value("sandbox_stage_duration_seconds_count", stage=stage, language="python") == timed[stage] + 1


async def test_a_refusal_is_counted_with_its_status_and_never_reaches_acquire(tmp_path: Path) -> None:
    refused = {"language": "python", "status": "validation_rejected", "policy": "standard"}
    async with serving(tmp_path, lambda spec: OK) as api, api.client() as client:
        before = value("sandbox_executions_total", **refused)
        verdicts = value("sandbox_validations_total", verdict="validation_rejected")
        acquired = value("sandbox_stage_duration_seconds_count", stage="acquire", language="python")
        response = await client.post("/v1/executions", json={"code": "import os\nos.system('id')"})
        assert response.status_code == 422
        assert value("sandbox_executions_total", **refused) == before + 1
        assert value("sandbox_validations_total", verdict="validation_rejected") == verdicts + 1
        assert value("sandbox_stage_duration_seconds_count", stage="acquire", language="python") == acquired


async def test_a_cached_verdict_is_counted_as_a_cache_hit(tmp_path: Path) -> None:
    async with serving(tmp_path, lambda spec: OK) as api, api.client() as client:
        code = f"print({time.monotonic_ns()})"  # new to the cache
        await client.post("/v1/executions", json={"code": code})
        hits = value("sandbox_validation_cache_hits_total")
        await client.post("/v1/executions", json={"code": code})
        assert value("sandbox_validation_cache_hits_total") == hits + 1


async def test_made_up_languages_and_policies_share_one_label_value(tmp_path: Path) -> None:
    async with serving(tmp_path, lambda spec: OK) as api, api.client() as client:
        other = {"language": "other", "status": "rejected", "policy": "other"}
        before = value("sandbox_executions_total", **other)
        for i in range(3):
            response = await client.post(
                "/v1/executions", json={"language": f"cobol{i}", "policy": f"p{i}", "code": ""}
            )
            assert response.status_code == 400
        assert value("sandbox_executions_total", **other) == before + 3
        exposed = (await client.get("/metrics")).text
        assert "cobol" not in exposed and 'policy="p1"' not in exposed


async def test_a_session_cell_is_an_execution_and_the_session_is_counted_open(tmp_path: Path) -> None:
    ok = {"language": "python", "status": "ok", "policy": "standard"}
    async with serving(tmp_path, lambda spec: OK) as api, api.client() as client:
        opened = value("sandbox_sessions_open")
        session = (await client.post("/v1/sessions", json={})).json()["id"]
        assert value("sandbox_sessions_open") == opened + 1
        before = value("sandbox_executions_total", **ok)
        cell = await client.post(f"/v1/sessions/{session}/executions", json={"code": "x = 1"})
        assert cell.status_code == 200, cell.text
        assert await settled("sandbox_executions_total", ok, before + 1) == before + 1
        assert (await client.delete(f"/v1/sessions/{session}")).status_code in (200, 204)
        assert value("sandbox_sessions_open") == opened
    assert value("sandbox_sessions_open") == opened


async def test_sessions_still_open_at_shutdown_leave_the_gauge(tmp_path: Path) -> None:
    opened = value("sandbox_sessions_open")
    async with serving(tmp_path, lambda spec: OK) as api, api.client() as client:
        for _ in range(2):
            assert (await client.post("/v1/sessions", json={})).status_code == 201
        assert value("sandbox_sessions_open") == opened + 2
    assert value("sandbox_sessions_open") == opened


async def test_http_requests_are_labelled_by_route_template_never_by_path(tmp_path: Path) -> None:
    template = "/v1/executions/{execution_id}"
    async with serving(tmp_path, lambda spec: OK) as api, api.client() as client:
        found = value("sandbox_http_requests_total", method="GET", route=template, code="404")
        unmatched = value("sandbox_http_requests_total", method="GET", route=metering.UNMATCHED, code="404")
        for i in range(3):
            assert (await client.get(f"/v1/executions/nope{i}")).status_code == 404
            assert (await client.get(f"/no/such/path/{i}")).status_code == 404
        assert value("sandbox_http_requests_total", method="GET", route=template, code="404") == found + 3
        assert value("sandbox_http_requests_total", method="GET", route=metering.UNMATCHED, code="404") == unmatched + 3
        exposed = (await client.get("/metrics")).text
        assert "nope1" not in exposed and "/no/such" not in exposed


async def test_a_body_refused_before_routing_still_carries_its_route(tmp_path: Path) -> None:
    async with serving(tmp_path, lambda spec: OK, request_bytes=1024) as api, api.client() as client:
        labels = {"method": "POST", "route": "/v1/executions", "code": "413"}
        before = value("sandbox_http_requests_total", **labels)
        response = await client.post("/v1/executions", json={"code": "x" * 10_000})
        assert response.status_code == 413
        assert value("sandbox_http_requests_total", **labels) == before + 1


async def test_a_crash_inside_the_app_is_counted_as_a_500() -> None:
    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("boom")

    labels = {"method": "GET", "route": metering.UNMATCHED, "code": "500"}
    before = value("sandbox_http_requests_total", **labels)
    with pytest.raises(RuntimeError):
        await metering.HttpMetrics(broken, routes=[])({"type": "http", "method": "GET", "path": "/x"}, _none, _drop)
    assert value("sandbox_http_requests_total", **labels) == before + 1


async def test_the_middleware_costs_far_less_than_half_a_millisecond() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    metered = metering.HttpMetrics(app, routes=[])
    scope = {"type": "http", "method": "GET", "path": "/x", "route": metering.router.routes[0]}

    async def timed(target: Callable[[Scope, Receive, Send], object], n: int = 2000) -> float:
        started = time.perf_counter()
        for _ in range(n):
            await target(dict(scope), _none, _drop)  # type: ignore[misc]
        return (time.perf_counter() - started) / n

    with_metrics = min([await timed(metered) for _ in range(3)])
    without = min([await timed(app) for _ in range(3)])
    assert with_metrics - without < 0.0005 / 10, f"{(with_metrics - without) * 1e6:.1f} µs per request"


# ------------------------------------------------------------------------------ /metrics


async def test_metrics_are_open_to_loopback_without_a_key(tmp_path: Path) -> None:
    async with serving(tmp_path, lambda spec: OK) as api, api.client(key=None) as client:
        response = await client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        names = {family.name for family in text_string_to_metric_families(response.text)}
        assert {"sandbox_executions", "sandbox_stage_duration_seconds", "process_resident_memory_bytes"} <= names


@pytest.mark.parametrize("key", [None, "sbx_not-a-key"])
async def test_metrics_ask_a_remote_client_for_a_valid_key(tmp_path: Path, key: str | None) -> None:
    async with serving(tmp_path, lambda spec: OK) as api, api.client(key=key, client=REMOTE) as client:
        response = await client.get("/metrics")
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "rejected" and response.headers["www-authenticate"].startswith("Bearer")
    async with serving(tmp_path, lambda spec: OK) as api, api.client(client=REMOTE) as client:
        assert (await client.get("/metrics")).status_code == 200


async def test_metrics_access_key_asks_loopback_too_and_open_asks_nobody(tmp_path: Path) -> None:
    async with serving(tmp_path, lambda spec: OK, metrics_access="key") as api:
        async with api.client(key=None) as client:
            assert (await client.get("/metrics")).status_code == 401
        async with api.client() as client:
            assert (await client.get("/metrics")).status_code == 200
    async with (
        serving(tmp_path, lambda spec: OK, metrics_access="open") as api,
        api.client(key=None, client=REMOTE) as client,
    ):
        assert (await client.get("/metrics")).status_code == 200


async def test_ipv4_mapped_loopback_is_loopback(tmp_path: Path) -> None:
    async with (
        serving(tmp_path, lambda spec: OK) as api,
        api.client(key=None, client=("::ffff:127.0.0.1", 1)) as client,
    ):
        assert (await client.get("/metrics")).status_code == 200
    async with serving(tmp_path, lambda spec: OK) as api, api.client(key=None, client=("::ffff:10.0.0.1", 1)) as client:
        assert (await client.get("/metrics")).status_code == 401


async def _none() -> dict[str, object]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _drop(message: object) -> None:
    return None


async def test_metrics_off_collects_nothing_and_serves_no_endpoint(tmp_path: Path) -> None:
    before = value("sandbox_executions_total", language="python", status="ok", policy="standard")
    try:
        async with serving(tmp_path, lambda spec: OK, metrics=False) as api, api.client() as client:
            assert (await client.post("/v1/executions", json={"code": "print(1)"})).json()["status"] == "ok"
            assert (await client.get("/metrics")).status_code == 404
        await asyncio.sleep(0.3)  # past the record writer's batch
        assert value("sandbox_executions_total", language="python", status="ok", policy="standard") == before
    finally:
        metrics.enable(True)  # the registry and the switch are the process's: leave them on for other tests
