"""The REST door on a FakeBackend: an admitted execution that cannot run answers like a refusal."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from sandbox.api.app import create_app
from sandbox.config import Settings
from sandbox.engine import FakeBackend, RunOutcome, RunSpec
from sandbox.errors import EngineError, PoolExhausted, SandboxError
from sandbox.models import Status
from sandbox.store import Store

pytestmark = pytest.mark.anyio


def failing(error: SandboxError) -> Callable[[RunSpec], RunOutcome]:
    def handler(spec: RunSpec) -> RunOutcome:
        if spec.mode == "session":
            return RunOutcome(status=Status.OK, exit_code=0)
        raise error

    return handler


@pytest.fixture
async def api(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(state_dir=tmp_path, validation_workers=0, pool_size=0)
    app = create_app(settings, backend=FakeBackend(failing(request.param)))
    async with app.router.lifespan_context(app):
        key = Store(settings.database).create_key("k", "standard", 8, 1000)[1]
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox", headers=headers) as client:
            yield client


CAPACITY = PoolExhausted("all 16 execution slots stayed busy for 30 s; retry later")
ENGINE = EngineError("create a cold container: Docker API error: no space left on device")


@pytest.mark.parametrize("api", [CAPACITY], indirect=True)
async def test_capacity_after_admission_is_a_503_with_retry_after(api: httpx.AsyncClient) -> None:
    for path, body in (("/v1/executions", {"code": "print(1)"}), (None, {"code": "print(1)"})):
        if path is None:
            session = (await api.post("/v1/sessions", json={})).json()["id"]
            path = f"/v1/sessions/{session}/executions"
        response = await api.post(path, json=body)
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"] == "1"
        problem = response.json()
        assert (problem["code"], problem["message"]) == ("capacity_unavailable", CAPACITY.message)
    # The execution was admitted, so it has its record, with the same status.
    listed = (await api.get("/v1/executions")).json()["items"]
    assert {item["status"] for item in listed} == {"capacity_unavailable"} and len(listed) == 2


@pytest.mark.parametrize("api", [ENGINE], indirect=True)
async def test_an_engine_failure_after_admission_is_a_500_internal_error(api: httpx.AsyncClient) -> None:
    response = await api.post("/v1/executions", json={"code": "print(1)"})
    assert response.status_code == 500
    assert response.json()["code"] == "internal_error"
    late = await api.post("/v1/executions", params={"wait": "false"}, json={"code": "print(1)"})
    assert late.status_code == 202  # the caller did not wait: the record will say it


async def test_validation_takes_the_callers_rate_like_an_execution(tmp_path: Path) -> None:
    """/v1/validate costs CPU up to the validation timeout: one key cannot call it without limit."""
    settings = Settings(state_dir=tmp_path, validation_workers=0, pool_size=0)
    app = create_app(settings, backend=FakeBackend(lambda spec: RunOutcome(status=Status.OK, exit_code=0)))
    async with app.router.lifespan_context(app):
        key = Store(settings.database).create_key("slow", "standard", 8, 2)[1]
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://sandbox", headers={"Authorization": f"Bearer {key}"}
        ) as api:
            answers = [await api.post("/v1/validate", json={"code": "print(1)"}) for _ in range(3)]
            run = await api.post("/v1/executions", json={"code": "print(1)"})
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert int(answers[2].headers["retry-after"]) >= 1
    assert run.status_code == 429  # the same bucket
