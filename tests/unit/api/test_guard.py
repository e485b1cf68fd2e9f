"""BodyGuard as a raw ASGI app around a tiny inner app: 413 on size, 422 on JSON depth, replay, and the
JSON body parsed once (``PARSED_JSON``, ``ParsedBodyRoute``)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel

from sandbox.api.guard import PARSED_JSON, BodyGuard, ParsedBodyRoute, json_depth, value_depth
from sandbox.api.problems import MEDIA_TYPE as PROBLEM

pytestmark = pytest.mark.anyio

CAP = 100
DEPTH = 4


class Inner:
    """Reads the whole body it is given and answers 200 with its length."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bytes]] = []
        self.scopes: list[dict[str, Any]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.scopes.append(scope)
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        self.calls.append((scope["method"], body))
        payload = json.dumps({"received": len(body)}).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": payload})


def client(inner: Inner, max_bytes: int = CAP, max_depth: int = DEPTH) -> httpx.AsyncClient:
    guard = BodyGuard(inner, max_bytes=max_bytes, max_depth=max_depth)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=guard), base_url="http://test")


def assert_problem(response: httpx.Response, status: int, detail: str) -> None:
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert body["type"] == "urn:sandbox:problem:rejected"
    assert body["code"] == "rejected"
    assert body["title"] == ("Payload too large" if status == 413 else "Unprocessable request")
    assert detail in body["detail"]
    assert int(response.headers["content-length"]) == len(response.content)


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


# ------------------------------------------------------------------------ size


async def test_content_length_over_the_cap_is_413_without_calling_the_app() -> None:
    inner = Inner()
    async with client(inner) as http:
        response = await http.post("/x", content=b"x" * (CAP + 1))
    assert_problem(response, 413, f"over the cap of {CAP} bytes")
    assert inner.calls == []


async def test_content_length_at_the_cap_passes_whole() -> None:
    inner = Inner()
    async with client(inner) as http:
        response = await http.post("/x", content=b"x" * CAP)
    assert response.status_code == 200
    assert inner.calls == [("POST", b"x" * CAP)]


@pytest.mark.parametrize("length", [b"abc", b"-1", b"1e3", b""])
async def test_a_malformed_content_length_is_413(length: bytes) -> None:
    inner = Inner()
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        raise AssertionError("the body must not be read")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/x", "headers": [(b"content-length", length)]}
    await BodyGuard(inner, CAP, DEPTH)(scope, receive, send)
    assert sent[0]["status"] == 413
    assert inner.calls == []


async def test_a_declared_oversize_body_is_refused_before_reading_it() -> None:
    inner = Inner()
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        raise AssertionError("the body must not be read")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "PUT", "path": "/x", "headers": [(b"content-length", b"1000000000")]}
    await BodyGuard(inner, CAP, DEPTH)(scope, receive, send)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 413
    assert (b"content-type", PROBLEM.encode()) in sent[0]["headers"]
    assert json.loads(sent[1]["body"])["status"] == 413
    assert inner.calls == []


async def test_a_streamed_body_passing_the_cap_is_413_and_reading_stops() -> None:
    inner = Inner()
    pulled = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal pulled
        for _ in range(50):
            pulled += 1
            yield b"y" * 30

    async with client(inner) as http:
        response = await http.post("/x", content=chunks())
    assert_problem(response, 413, f"over the cap of {CAP} bytes")
    assert inner.calls == []
    assert pulled == 4  # 120 bytes > 100: refused at the fourth chunk, the other 46 never read


async def test_a_streamed_body_under_the_cap_reaches_the_app_whole() -> None:
    inner = Inner()

    async def chunks() -> AsyncIterator[bytes]:
        for part in (b"[1,", b"2,", b"3]"):
            yield part

    async with client(inner) as http:
        request = http.build_request("POST", "/x", content=chunks(), headers={"content-type": "application/json"})
        assert "content-length" not in request.headers
        response = await http.send(request)
    assert response.status_code == 200
    assert inner.calls == [("POST", b"[1,2,3]")]


async def test_a_client_gone_mid_body_gets_nothing_and_the_app_is_not_called() -> None:
    inner = Inner()
    messages = iter(
        [{"type": "http.request", "body": b"abc", "more_body": True}, {"type": "http.disconnect"}],
    )
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return next(messages)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await BodyGuard(inner, CAP, DEPTH)({"type": "http", "method": "POST", "headers": []}, receive, send)
    assert sent == []
    assert inner.calls == []


async def test_after_the_replayed_body_the_app_reads_the_original_channel() -> None:
    seen: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(await receive())
        seen.append(await receive())  # e.g. waiting for the client to disconnect

    messages = iter(
        [
            {"type": "http.request", "body": b"ab", "more_body": True},
            {"type": "http.request", "body": b"c", "more_body": False},
            {"type": "http.disconnect"},
        ]
    )

    async def receive() -> dict[str, Any]:
        return next(messages)

    async def send(message: dict[str, Any]) -> None:
        raise AssertionError("nothing to send")

    await BodyGuard(app, CAP, DEPTH)({"type": "http", "method": "POST", "headers": []}, receive, send)
    assert seen == [{"type": "http.request", "body": b"abc", "more_body": False}, {"type": "http.disconnect"}]


# ----------------------------------------------------------------------- depth


async def test_json_deeper_than_max_depth_is_422_without_calling_the_app() -> None:
    inner = Inner()
    async with client(inner) as http:
        response = await http.post("/x", content=nested(DEPTH + 1), headers={"content-type": "application/json"})
    assert_problem(response, 422, f"JSON nested {DEPTH + 1} levels deep; the limit is {DEPTH}")
    assert inner.calls == []


async def test_json_at_max_depth_passes() -> None:
    inner = Inner()
    body = b'{"a": [1, {"b": [2]}]}'
    assert json_depth(body) == DEPTH
    async with client(inner) as http:
        response = await http.post("/x", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 200
    assert inner.calls == [("POST", body)]


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "application/problem+json"])
async def test_json_media_type_variants_are_checked(content_type: str) -> None:
    inner = Inner()
    async with client(inner) as http:
        response = await http.post("/x", content=nested(DEPTH + 1), headers={"content-type": content_type})
    assert response.status_code == 422
    assert inner.calls == []


async def test_brackets_inside_json_strings_do_not_count() -> None:
    inner = Inner()
    payload = {"code": "print(\"[[[[[[[[\" + '{{{{{{')", "s": '\\"[[[[[[', "t": "\\", "n": [["[[[[[[[["]]}
    body = json.dumps(payload).encode()
    assert b'\\"' in body and b"\\\\" in body  # escaped quotes and backslashes really are in the bytes
    assert json_depth(body) == 3
    async with client(inner) as http:
        response = await http.post("/x", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 200
    assert inner.calls == [("POST", body)]


async def test_a_non_json_body_full_of_brackets_passes() -> None:
    inner = Inner()
    body = b"[" * CAP
    async with client(inner) as http:
        response = await http.post("/x", content=body, headers={"content-type": "text/plain"})
    assert response.status_code == 200
    assert inner.calls == [("POST", body)]


@pytest.mark.parametrize("content_type", ["Application/JSON", "application/vnd.api+JSON"])
async def test_json_depth_is_checked_whatever_the_media_type_case(content_type: str) -> None:
    inner = Inner()
    async with client(inner) as http:
        response = await http.post("/x", content=nested(DEPTH + 1), headers={"content-type": content_type})
    assert response.status_code == 422
    assert inner.calls == []


# ----------------------------------------------------------------- untouched


@pytest.mark.parametrize("method", ["GET", "HEAD", "DELETE", "OPTIONS"])
async def test_bodiless_methods_are_untouched(method: str) -> None:
    inner = Inner()
    body = nested(CAP)  # over both the size cap and the depth limit
    async with client(inner, max_bytes=10) as http:
        response = await http.request(method, "/x", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 200
    assert inner.calls == [(method, body)]


async def test_non_http_scopes_pass_through() -> None:
    inner = Inner()

    async def receive() -> dict[str, Any]:
        raise AssertionError("not for the guard to read")

    async def send(message: dict[str, Any]) -> None:
        raise AssertionError("not for the guard to answer")

    for scope in ({"type": "lifespan"}, {"type": "websocket", "headers": [(b"content-length", b"999999")]}):
        await BodyGuard(inner, CAP, DEPTH)(scope, receive, send)
    assert [s["type"] for s in inner.scopes] == ["lifespan", "websocket"]


# ------------------------------------------------------------------ json_depth


@pytest.mark.parametrize(
    ("data", "depth"),
    [
        (b"", 0),
        (b"42", 0),
        (b'"[[[{{{"', 0),
        (b"[]", 1),
        (b"{}", 1),
        (b"[[], [], {}]", 2),  # siblings do not add up
        (b"[[[]], [[[]]]]", 4),
        (b'{"a": [1, {"b": 2}]}', 3),
        (b'["\\"[", "]"]', 1),  # an escaped quote does not end the string
        (b'["\\\\", ["x"]]', 2),  # an escaped backslash does not escape the closing quote
        (b'{"k\\"": [[]]}', 3),
        ('["é[", [["ü{"]]]'.encode(), 3),
        (bytearray(b"[[1]]"), 2),
    ],
)
def test_json_depth(data: bytes, depth: int) -> None:
    assert json_depth(data) == depth


def test_json_depth_is_linear_on_a_huge_input() -> None:
    assert json_depth(nested(200_000)) == 200_000


# ------------------------------------------------------------------ parsed once

VALID = [b"42", b"[]", b"{}", b"[[], [], {}]", b"[[[]], [[[]]]]", b'{"a": [1, {"b": 2}]}', b'["\\"[", "]"]']


@pytest.mark.parametrize("data", VALID)
def test_value_depth_is_json_depth_of_the_text(data: bytes) -> None:
    assert value_depth(json.loads(data)) == json_depth(data)


async def test_a_json_body_is_parsed_once_and_handed_on_in_the_scope() -> None:
    inner = Inner()
    async with client(inner) as http:
        response = await http.post("/x", json={"code": "print(1)", "n": [1, [2]]})
    assert response.status_code == 200
    assert inner.scopes[0][PARSED_JSON] == {"code": "print(1)", "n": [1, [2]]}


@pytest.mark.parametrize("body", [b"", b"{not json", b"[1, 2"])
async def test_a_body_that_is_not_json_is_handed_on_unparsed(body: bytes) -> None:
    inner = Inner()
    async with client(inner) as http:
        response = await http.post("/x", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 200 and inner.calls == [("POST", body)]
    assert PARSED_JSON not in inner.scopes[0]


async def test_unbalanced_json_deeper_than_max_depth_is_still_422() -> None:
    inner = Inner()
    async with client(inner) as http:
        response = await http.post("/x", content=b"[" * (DEPTH + 1), headers={"content-type": "application/json"})
    assert_problem(response, 422, f"JSON nested {DEPTH + 1} levels deep; the limit is {DEPTH}")
    assert inner.calls == []


async def test_json_deeper_than_the_parser_can_go_is_measured_on_its_text() -> None:
    """``json.loads`` gives up (RecursionError) long before 50,000 levels: the 422 still says how deep."""
    inner = Inner()
    async with client(inner, max_bytes=200_000) as http:
        response = await http.post("/x", content=nested(50_000), headers={"content-type": "application/json"})
    assert_problem(response, 422, f"JSON nested 50000 levels deep; the limit is {DEPTH}")
    assert inner.calls == []


class Body(BaseModel):
    a: int


async def test_a_parsed_body_route_validates_the_value_in_the_scope_not_the_bytes() -> None:
    """FastAPI takes the guard's value (it would parse the bytes again otherwise); without one, the bytes."""
    router = APIRouter(route_class=ParsedBodyRoute)

    @router.post("/x")
    async def echo(body: Body) -> dict[str, int]:
        return {"a": body.a}

    app = FastAPI()
    app.include_router(router)

    async def parsed_elsewhere(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/x":
            scope[PARSED_JSON] = {"a": 2}
        await app(scope, receive, send)

    for asgi, expected in ((parsed_elsewhere, 2), (app, 1)):
        transport = httpx.ASGITransport(app=asgi)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            response = await http.post("/x", json={"a": 1})
        assert response.json() == {"a": expected}
