"""The ``/mcp`` endpoint's guard (``sandbox/mcp/http.py``) around the SDK's app, with a stand-in app."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from sandbox.mcp import McpAuth
from sandbox.store import Store
from tests.live_uvicorn import uvicorn_in_thread


@pytest.mark.anyio
async def test_a_request_reaching_an_ended_session_is_404_not_a_crash(tmp_path: Path) -> None:
    """SDK 2.x raises ClosedResourceError out of a POST that reaches a session just ended (a client's
    courtesy `notifications/cancelled` racing its own DELETE); that is no 500 and no traceback."""
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    _, key = store.create_key("agent", "standard", 8, 1000)

    async def ended(scope: Any, receive: Any, send: Any) -> None:
        raise anyio.ClosedResourceError

    guard = McpAuth(ended, lambda: store)
    transport = httpx.ASGITransport(app=guard)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        refused = await client.post("/mcp", json={}, headers={"Authorization": "Bearer nope"})
        ended_session = await client.post("/mcp", json={}, headers={"Authorization": f"Bearer {key}"})
    store.close()
    assert refused.status_code == 401
    assert ended_session.status_code == 404 and ended_session.json()["message"] == "the MCP session ended"


def test_an_answer_sent_again_after_a_complete_one_is_dropped_not_an_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The SDK answers a notification 202, then (handing it to a session that just ended failed) sends
    a 500 after it. Under a real uvicorn that second answer was a RuntimeError ("response already
    completed") with a traceback; the guard drops it: the client has its 202 and nothing is logged."""
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    _, key = store.create_key("agent", "standard", 8, 1000)

    async def answers_twice(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 202, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        await send({"type": "http.response.start", "status": 500, "headers": []})
        await send({"type": "http.response.body", "body": b"Internal Server Error"})

    guard = McpAuth(answers_twice, lambda: store)
    with caplog.at_level(logging.DEBUG), uvicorn_in_thread(guard, lifespan="off", log_config=None) as url:
        answer = httpx.post(f"{url}/mcp", json={}, headers={"Authorization": f"Bearer {key}"}, timeout=10)
    store.close()
    assert answer.status_code == 202 and answer.content == b""
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    assert "after its answer was complete" in caplog.text
