"""The REST door's request context: X-Request-Id in and out, bound to the logs with the key's name."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from sandbox.api.app import create_app
from sandbox.api.requestid import RequestContext
from sandbox.config import Settings
from sandbox.engine import FakeBackend
from sandbox.store import Store
from tests.unit.observability.conftest import Configure
from tests.unit.observability.util import hello, lines

pytestmark = pytest.mark.anyio
GENERATED = re.compile(r"[0-9a-f]{32}")


class Api:
    def __init__(self, client: httpx.AsyncClient, secret: str, app: Any) -> None:
        self.client, self.secret, self.app = client, secret, app


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    settings = Settings(state_dir=tmp_path, validation_workers=0, pool_size=0)
    app = create_app(settings, backend=FakeBackend(hello))
    async with app.router.lifespan_context(app):
        secret = Store(settings.database).create_key("alice", "standard", 8, 1000)[1]
        # raise_app_exceptions=False: a 500 is answered, as uvicorn would, and the test sees the answer.
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        headers = {"Authorization": f"Bearer {secret}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox", headers=headers) as client:
            yield Api(client, secret, app)


@pytest.mark.parametrize("given", ["req-42", "0af7651916cd43dd8448eb211c80319c", "a.b:c_d-" + "x" * 119])
async def test_a_sane_request_id_is_kept(api: Api, given: str) -> None:
    response = await api.client.get("/healthz", headers={"X-Request-Id": given})
    assert response.headers["x-request-id"] == given


@pytest.mark.parametrize("given", ["", "has space", "<script>", "x" * 129, "é-accent", "semi;colon", "a/b"])
async def test_an_insane_request_id_is_replaced(api: Api, given: str) -> None:
    response = await api.client.get("/healthz", headers=[(b"x-request-id", given.encode("utf-8"))])
    assert GENERATED.fullmatch(response.headers["x-request-id"])


async def test_every_answer_carries_a_new_id_when_none_is_given(api: Api) -> None:
    answers = [
        await api.client.get("/healthz"),
        await api.client.get("/v1/executions", headers={"Authorization": "Bearer nope"}),  # 401
        await api.client.get("/v1/executions/nope"),  # 404
        await api.client.post("/v1/executions", content=b"x" * (10 << 20)),  # 413 from the body guard
        await api.client.post("/v1/executions", json={"code": "print(1)"}),  # 200
    ]
    assert [a.status_code for a in answers] == [200, 401, 404, 413, 200]
    ids = [a.headers["x-request-id"] for a in answers]
    assert all(GENERATED.fullmatch(i) for i in ids) and len(set(ids)) == len(ids)
    assert all("x-trace-id" not in a.headers for a in answers)  # tracing is off


async def test_a_500_carries_the_request_id_and_its_log_line_too(
    api: Api, logs: Configure, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(api.app.state.manager, "submit", broken)
    buffer = logs()
    response = await api.client.post("/v1/executions", json={"code": "print(1)"}, headers={"X-Request-Id": "r-500"})
    assert response.status_code == 500 and response.headers["x-request-id"] == "r-500"
    (line,) = [line for line in lines(buffer) if line["message"] == "unexpected error"]
    assert line["request_id"] == "r-500" and line["key"] == "alice" and "RuntimeError: boom" in line["exception"]


async def test_an_executions_lines_carry_the_request_id_and_key_name_never_the_key(api: Api, logs: Configure) -> None:
    buffer = logs()
    response = await api.client.post("/v1/executions", json={"code": "print(1)"}, headers={"X-Request-Id": "r-1"})
    assert response.status_code == 200
    execution_id = response.json()["id"]
    await api.client.get("/v1/executions")  # a listing waits for the record's write (its stage's end)
    await api.client.get("/v1/executions", headers={"Authorization": f"Bearer {api.secret}x"})  # a wrong key
    mine = [line for line in lines(buffer) if line.get("execution_id") == execution_id]
    assert {line["stage"] for line in mine if "stage" in line} == {"admit", "validate", "acquire", "run", "record"}
    assert all(line["request_id"] == "r-1" and line["key"] == "alice" for line in mine)
    assert api.secret not in buffer.getvalue()  # nor its prefix's longer forms
    assert api.secret[:20] not in buffer.getvalue()


async def test_the_middleware_costs_microseconds() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        pass

    wrapped = RequestContext(app)
    headers = [(b"host", b"sandbox"), (b"authorization", b"Bearer x"), (b"x-request-id", b"abc")]

    async def per_call(target: Any, rounds: int = 2000) -> float:
        started = time.perf_counter()
        for _ in range(rounds):
            await target({"type": "http", "method": "GET", "path": "/", "headers": headers}, receive, send)
        return (time.perf_counter() - started) / rounds

    bare, with_context = min([await per_call(app) for _ in range(3)]), min([await per_call(wrapped) for _ in range(3)])
    assert with_context - bare < 50e-6, f"{(with_context - bare) * 1e6:.1f} us per request"  # budget: 500 us
