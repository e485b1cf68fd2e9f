"""problems.install: every error becomes application/problem+json, with the right status and headers."""

from __future__ import annotations

import logging
import warnings
from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import BaseModel
from starlette.exceptions import StarletteDeprecationWarning

from sandbox.api import problems
from sandbox.errors import (
    CapacityUnavailable,
    EngineError,
    NotFound,
    PayloadTooLarge,
    PoolExhausted,
    RateLimited,
    SandboxError,
    StoreError,
    SyntaxRejected,
    Unauthenticated,
    ValidationRejected,
)
from sandbox.models import Finding

FINDINGS = [
    Finding(rule_id="import.denied", message="import of 'subprocess' is denied", line=1, col=0),
    Finding(rule_id="B101", severity="low", action="warn", message="assert used", source="bandit", line=2),
]
LEAK = "password=hunter2 at /srv/secret/path"


def rate_limited() -> RateLimited:
    error = RateLimited("slow down")
    error.retry_after_s = 17
    return error


ERRORS: dict[str, Any] = {
    "rate": rate_limited,
    "rate-default": lambda: RateLimited("slow down"),
    "capacity": lambda: CapacityUnavailable("no container"),
    "pool": lambda: PoolExhausted("every slot busy"),
    "unauth": lambda: Unauthenticated("missing API key"),
    "validation": lambda: ValidationRejected("denied by standard", findings=FINDINGS),
    "syntax": lambda: SyntaxRejected("line 1: invalid syntax", findings=FINDINGS[:1]),
    "notfound": lambda: NotFound("no execution 'abc' for this key"),
    "toolarge": lambda: PayloadTooLarge("code over the cap"),
    "engine": lambda: EngineError("container create failed"),
    "store": lambda: StoreError("could not save an execution: OperationalError"),
}


class Body(BaseModel):
    n: int


def make_app() -> FastAPI:
    app = FastAPI()
    problems.install(app)

    @app.get("/raise/{name}")
    async def raise_error(name: str) -> None:
        raise ERRORS[name]()

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError(LEAK)

    @app.post("/typed")
    async def typed(body: Body) -> dict[str, int]:
        return {"n": body.n}

    return app


@pytest.fixture(scope="module")
def http() -> Any:
    # starlette.testclient warns at import when it finds httpx rather than httpx2; that is not under test.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=StarletteDeprecationWarning)
        from fastapi.testclient import TestClient
    with TestClient(make_app(), raise_server_exceptions=False) as client:
        yield client


def check(response: Any, status: int, code: str, detail: str) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == f"urn:sandbox:problem:{code}"
    assert body["code"] == code
    assert body["status"] == status
    assert body["title"] == problems.TITLES[status]
    assert body["detail"] == detail
    assert body["message"] == detail, "the error object rides inside the problem"
    return body


@pytest.mark.parametrize(
    ("name", "status", "code", "detail"),
    [
        ("rate", 429, "rejected", "slow down"),
        ("capacity", 503, "capacity_unavailable", "no container"),
        ("pool", 503, "capacity_unavailable", "every slot busy"),
        ("unauth", 401, "rejected", "missing API key"),
        ("validation", 422, "validation_rejected", "denied by standard"),
        ("syntax", 422, "syntax_error", "line 1: invalid syntax"),
        ("notfound", 404, "rejected", "no execution 'abc' for this key"),
        ("toolarge", 413, "rejected", "code over the cap"),
        ("engine", 500, "internal_error", "container create failed"),
        ("store", 500, "internal_error", "could not save an execution: OperationalError"),
    ],
)
def test_sandbox_errors_map_to_status_code_and_body(http: Any, name: str, status: int, code: str, detail: str) -> None:
    error = ERRORS[name]()
    assert isinstance(error, SandboxError)
    assert error.http_status == status  # the table in errors.py is what the door uses
    body = check(http.get(f"/raise/{name}"), status, code, detail)
    if not isinstance(error, ValidationRejected):
        assert body["findings"] == []


def test_rate_limited_sets_retry_after(http: Any) -> None:
    response = http.get("/raise/rate")
    assert response.headers["retry-after"] == "17"
    assert "www-authenticate" not in response.headers
    assert http.get("/raise/rate-default").headers["retry-after"] == "1"


@pytest.mark.parametrize("name", ["capacity", "pool"])
def test_capacity_unavailable_sets_retry_after(http: Any, name: str) -> None:
    assert http.get(f"/raise/{name}").headers["retry-after"] == str(CapacityUnavailable.retry_after_s)


def test_unauthenticated_sets_www_authenticate(http: Any) -> None:
    response = http.get("/raise/unauth")
    assert response.headers["www-authenticate"] == 'Bearer realm="sandbox"'
    assert "retry-after" not in response.headers


@pytest.mark.parametrize("name", ["notfound", "toolarge", "engine", "validation"])
def test_other_errors_set_neither_header(http: Any, name: str) -> None:
    response = http.get(f"/raise/{name}")
    assert "retry-after" not in response.headers
    assert "www-authenticate" not in response.headers


def test_validation_rejected_carries_its_findings(http: Any) -> None:
    body = http.get("/raise/validation").json()
    assert [Finding(**f) for f in body["findings"]] == FINDINGS
    assert body["findings"][0]["rule_id"] == "import.denied"
    assert body["findings"][1]["action"] == "warn"
    assert http.get("/raise/syntax").json()["findings"][0]["rule_id"] == "import.denied"


def test_an_unexpected_exception_is_a_bare_500(http: Any, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="sandbox.api.problems"):
        response = http.get("/boom")
    body = check(response, 500, "internal_error", "internal error")
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text
    assert set(body) == {"type", "title", "status", "detail", "code", "message", "findings"}
    assert body["findings"] == []
    # The details go to the log instead.
    assert any(r.exc_info and LEAK in str(r.exc_info[1]) for r in caplog.records)


def test_an_unknown_route_is_a_404_problem(http: Any) -> None:
    check(http.get("/nowhere"), 404, "rejected", "Not Found")


def test_a_wrong_method_is_a_405_problem(http: Any) -> None:
    check(http.post("/boom"), 405, "rejected", "Method Not Allowed")


def test_a_request_validation_error_is_a_422_problem_with_errors(http: Any) -> None:
    response = http.post("/typed", json={"n": "not a number"})
    body = check(response, 422, "rejected", response.json()["detail"])
    assert body["detail"].startswith("n: ")
    assert body["errors"][0]["loc"] == ["body", "n"]
    assert body["errors"][0]["type"] == "int_parsing"
    assert http.post("/typed", json={"n": 3}).json() == {"n": 3}


def test_documented_lists_problem_responses() -> None:
    responses = problems.documented(401, 429)
    assert set(responses) == {401, 429}
    assert responses[429]["model"] is problems.Problem
    assert responses[429]["description"] == "Too many requests"
    assert problems.MEDIA_TYPE in responses[401]["content"]
