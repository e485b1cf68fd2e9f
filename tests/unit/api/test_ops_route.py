"""``GET /v1/ops`` on a FakeBackend: who may read it, what is in flight, what the store says, the pools' names.

The real engine (warm pools, real timeouts) is exercised by ``tests/e2e/test_ops.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from sandbox.api.app import create_app
from sandbox.config import Settings
from sandbox.engine import FakeBackend, PoolReport, RunOutcome, RunSpec
from sandbox.models import Status

pytestmark = pytest.mark.anyio


class PooledFake(FakeBackend):
    """A FakeBackend that reports one warm pool named as the Docker backend names them."""

    pool_name = ""

    def pools(self) -> list[PoolReport]:
        return [
            PoolReport(
                self.pool_name,
                ready=1,
                target=2,
                hits=5,
                misses=2,
                created=7,
                failures=1,
                minimum=1,
                maximum=8,
                hit_ratio=0.5,
            )
        ]


@dataclass
class Api:
    client: httpx.AsyncClient
    ops: dict[str, str]
    plain: dict[str, str]
    release: asyncio.Event


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    release = asyncio.Event()

    async def handler(spec: RunSpec) -> RunOutcome:
        code = b"".join(file.data for file in spec.files)
        if b"block" in code:
            await release.wait()
        if b"fail" in code:
            return RunOutcome(status=Status.RUNTIME_ERROR, exit_code=1, message="exited with code 1", wall_ms=6)
        return RunOutcome(status=Status.OK, exit_code=0, wall_ms=4)

    settings = Settings(state_dir=tmp_path, validation_workers=0, pool_size=0)
    backend = PooledFake(handler)
    app = create_app(settings, backend=backend)
    async with app.router.lifespan_context(app):
        backend.pool_name = f"{app.state.service.catalog.image_tag('python')}/256m"
        store = app.state.store
        ops_key = store.create_key("operator", "standard", 8, 1000, ops=True)[1]
        plain_key = store.create_key("ci", "standard", 8, 1000)[1]
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
            yield Api(
                client,
                {"Authorization": f"Bearer {ops_key}"},
                {"Authorization": f"Bearer {plain_key}"},
                release,
            )
            release.set()


async def test_only_a_key_with_the_ops_permission_reads_the_snapshot(api: Api) -> None:
    missing = await api.client.get("/v1/ops")
    assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
    wrong = await api.client.get("/v1/ops", headers={"Authorization": "Bearer sbx_not-a-key"})
    assert wrong.status_code == 401
    forbidden = await api.client.get("/v1/ops", headers=api.plain)
    assert forbidden.status_code == 403
    assert forbidden.headers["content-type"] == "application/problem+json"
    problem = forbidden.json()
    assert (problem["code"], problem["title"], problem["status"]) == ("rejected", "Forbidden", 403)
    assert "'ci' lacks the ops permission" in problem["message"]
    assert "keys create --name NAME --ops" in problem["message"]
    allowed = await api.client.get("/v1/ops", headers=api.ops)
    assert allowed.status_code == 200 and allowed.headers["cache-control"] == "no-store"


async def test_the_snapshot_counts_what_ran_what_runs_and_what_was_refused(api: Api) -> None:
    client, plain = api.client, api.plain
    assert (await client.post("/v1/executions", json={"code": "print('ok')"}, headers=plain)).status_code == 200
    assert (await client.post("/v1/executions", json={"code": "print('fail')"}, headers=plain)).status_code == 200
    denied = await client.post("/v1/executions", json={"code": "import subprocess"}, headers=plain)
    assert denied.status_code == 422
    blocked = await client.post("/v1/executions?wait=false", json={"code": "print('block')"}, headers=plain)
    assert blocked.status_code == 202
    session = await client.post("/v1/sessions", json={}, headers=plain)
    assert session.status_code == 201

    snapshot = (await client.get("/v1/ops", headers=api.ops)).json()

    assert snapshot["running"] == 1 and snapshot["sessions"] == {"open": 1}
    assert snapshot["engine"] == {
        "status": "ok",
        "runtime": "runc",
        "breaker": "closed",
        "ready": True,
        "database": "ok",
    }
    assert snapshot["executions"]["totals"] == {"ok": 1, "runtime_error": 1, "validation_rejected": 1}
    assert snapshot["executions"]["window_minutes"] == 60
    assert sum(sum(m["counts"].values()) for m in snapshot["executions"]["per_minute"]) == 3
    assert snapshot["latency_ms"]["count"] == 2  # the running one has no latency yet
    assert snapshot["latency_ms"]["program_wall"] == {"p50": 5.0, "p90": 5.8, "p99": 6.0}  # 4 and 6 ms
    (failure,) = snapshot["recent_failures"]
    assert (failure["status"], failure["key"], failure["message"]) == ("runtime_error", "ci", "exited with code 1")
    (pool,) = snapshot["pools"]
    assert pool["language"] == "python" and pool["name"].endswith("/256m")
    keys = ("ready", "target", "minimum", "maximum", "hit_ratio", "hits", "misses", "created", "failures")
    assert {k: pool[k] for k in keys} == {
        "ready": 1,
        "target": 2,
        "minimum": 1,
        "maximum": 8,
        "hit_ratio": 0.5,
        "hits": 5,
        "misses": 2,
        "created": 7,
        "failures": 1,
    }

    api.release.set()
    for _ in range(200):
        after = (await client.get("/v1/ops", headers=api.ops)).json()
        if after["running"] == 0 and after["executions"]["totals"].get("ok") == 2:
            break
        await asyncio.sleep(0.02)
    assert after["running"] == 0 and after["executions"]["totals"]["ok"] == 2
