"""The client's error mapping: problem documents and other bodies to the one exception tree."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from sandbox.client import errors
from sandbox.client.errors import (
    APIError,
    AuthenticationError,
    BadRequest,
    CapacityUnavailable,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    RateLimited,
    ServerError,
    ValidationRejected,
    from_response,
    parse_retry_after,
)
from sandbox.models import Status
from tests.unit.client.scripted import problem_body


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (400, "rejected", BadRequest),
        (401, "rejected", AuthenticationError),
        (403, "rejected", PermissionDenied),
        (404, "rejected", NotFound),
        (413, "rejected", PayloadTooLarge),
        (422, "rejected", BadRequest),
        (422, "validation_rejected", ValidationRejected),
        (422, "syntax_error", ValidationRejected),
        (429, "rejected", RateLimited),
        (503, "capacity_unavailable", CapacityUnavailable),
        (500, "internal_error", ServerError),
        (502, "internal_error", ServerError),
        (409, "rejected", BadRequest),
    ],
)
def test_each_status_and_code_maps_to_its_class(status: int, code: str, cls: type[APIError]) -> None:
    error = from_response(status, {"x-request-id": "req-1"}, problem_body(status, code, "the reason"))
    assert type(error) is cls
    assert (error.status_code, error.code, error.message, error.request_id) == (
        status,
        Status(code),
        "the reason",
        "req-1",
    )
    assert str(error) == f"the reason (HTTP {status}, {code}, request id req-1)"


def test_the_code_wins_over_the_http_status_a_proxy_may_have_rewritten() -> None:
    assert type(from_response(400, {}, problem_body(400, "capacity_unavailable"))) is CapacityUnavailable
    assert type(from_response(200 + 300, {}, problem_body(500, "validation_rejected"))) is ValidationRejected


def test_a_denial_carries_its_findings_as_models() -> None:
    finding = {"rule_id": "import.denied", "message": "import of 'subprocess' is not allowed", "line": 1, "col": 0}
    error = from_response(422, {}, problem_body(422, "validation_rejected", "denied", findings=[finding]))
    assert isinstance(error, ValidationRejected)
    assert [(f.rule_id, f.line, f.action) for f in error.findings] == [("import.denied", 1, "deny")]


def test_fastapi_field_errors_are_kept_on_a_bad_request() -> None:
    body = problem_body(
        422, "rejected", "body.code: Field required", errors=[{"loc": ["body", "code"], "msg": "Field required"}]
    )
    error = from_response(422, {}, body)
    assert isinstance(error, BadRequest) and error.errors == [{"loc": ["body", "code"], "msg": "Field required"}]


def test_a_non_json_body_still_gives_a_clear_error() -> None:
    html = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    error = from_response(502, {"content-type": "text/html"}, html, "Bad Gateway", "GET /v1/languages")
    assert isinstance(error, ServerError) and error.code is None and error.status_code == 502
    assert error.message.startswith("GET /v1/languages: the server answered HTTP 502 Bad Gateway with a body that is")
    assert "(text/html)" in error.message and "502 Bad Gateway</title>" in error.message
    assert error.body == html.decode()


def test_an_empty_body_and_a_json_body_without_a_message_say_what_came() -> None:
    assert "with an empty body" in from_response(503, {}, b"").message
    odd = from_response(404, {"content-type": "application/json"}, b'{"error": "nope"}')
    assert isinstance(odd, NotFound) and "not a problem document" in odd.message and '"error": "nope"' in odd.message


def test_a_long_body_is_cut() -> None:
    error = from_response(500, {}, b"x" * 10_000)
    assert len(error.message) < errors.SNIPPET_CHARS + 200 and error.message.endswith("...'")


def test_retry_after_in_seconds_or_as_an_http_date() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-3") == 0.0
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    date = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(date, now=now.timestamp()) == pytest.approx(30)
    for bad in (None, "", "soon", "nan", "inf"):
        assert parse_retry_after(bad) is None
    error = from_response(429, {"retry-after": "12"}, problem_body(429, "rejected"))
    assert isinstance(error, RateLimited) and error.retry_after == 12.0
