"""``AnswerWindows``: what a request defers with ``aftercare.after_answer`` runs once its answer is sent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Message

from sandbox import aftercare
from sandbox.api.answers import AnswerWindows

pytestmark = pytest.mark.anyio


def app_with(events: list[str]) -> AnswerWindows:
    async def answer(request: Request) -> Response:
        aftercare.after_answer(lambda: events.append("cleanup"))
        return JSONResponse({"ok": True})

    async def stream(request: Request) -> Response:
        aftercare.after_answer(lambda: events.append("cleanup"))

        async def chunks() -> AsyncIterator[bytes]:
            for part in (b"a", b"b", b"c"):
                yield part

        return StreamingResponse(chunks())

    async def broken(request: Request) -> Response:
        aftercare.after_answer(lambda: events.append("cleanup"))
        raise RuntimeError("a bug")

    return AnswerWindows(Starlette(routes=[Route("/", answer), Route("/stream", stream), Route("/broken", broken)]))


async def call(app: AnswerWindows, path: str, events: list[str]) -> None:
    scope = {"type": "http", "method": "GET", "path": path, "headers": [], "query_string": b"", "root_path": ""}

    requested = False

    async def receive() -> Message:
        nonlocal requested
        if requested:  # the client stays connected
            await asyncio.Event().wait()
        requested = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.body":
            events.append("last body" if not message.get("more_body", False) else "body")
        else:
            events.append(message["type"])

    await app(scope, receive, send)


async def test_cleanup_runs_right_after_the_answer_is_handed_to_the_server() -> None:
    events: list[str] = []
    await call(app_with(events), "/", events)
    assert events == ["http.response.start", "last body", "cleanup"]


async def test_a_streamed_answer_holds_cleanup_until_its_last_chunk() -> None:
    events: list[str] = []
    await call(app_with(events), "/stream", events)
    assert events[0] == "http.response.start"
    assert events[-2:] == ["last body", "cleanup"]
    assert events.count("cleanup") == 1


async def test_a_request_that_fails_still_runs_its_cleanup() -> None:
    events: list[str] = []
    with pytest.raises(RuntimeError):
        await call(app_with(events), "/broken", events)
    assert events == ["http.response.start", "last body", "cleanup"]  # starlette's 500, then the cleanup
