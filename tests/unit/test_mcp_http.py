"""The ``/mcp`` endpoint's guard (``sandbox/mcp/http.py``) around the SDK's app, with a stand-in app."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from sandbox.mcp import McpAuth
from sandbox.store import Store

pytestmark = pytest.mark.anyio


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
