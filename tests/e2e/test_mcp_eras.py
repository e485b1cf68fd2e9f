"""Every protocol revision the door serves, over both transports, with real clients of each SDK generation.

- SDK 2.x in both eras: 2026-07-28 (``server/discover``, no session) and the ``initialize`` handshake;
- a real SDK 1.x client (``.venv-mcp1``, made by ``scripts/install``) over stdio and HTTP;
- the 2025 revisions a client may still ask for (2025-03-26, 2025-06-18, 2025-11-25), by raw HTTP;
- and no validation error or warning in the server's log for any of it (SDK 1.x logged 31 validation
  errors for a 2.x client's first ``server/discover`` probe).
"""

from __future__ import annotations

import json
import os
from importlib.metadata import version

import httpx
import pytest

from tests.e2e.mcp_clients import connect, mcp1_client, stdio_params, warnings_logged

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def mcp_key(live_server) -> str:
    return live_server.key("e2e-mcp-eras")


@pytest.fixture(params=["http", "stdio"])
def transport(request) -> str:
    return request.param


def assert_quiet(text: str) -> None:
    """No validation error, no warning, no traceback in a server log."""
    lowered = text.lower()
    assert "validation error" not in lowered, text[-4000:]
    assert "traceback" not in lowered, text[-4000:]
    assert '"level":"warning"' not in text.replace(" ", "") and "WARNING" not in text, text[-4000:]


@pytest.mark.parametrize(("era", "revision"), [("modern", "2026-07-28"), ("legacy", "2025-11-25")])
async def test_a_2x_client_in_either_era_runs_code_and_the_server_logs_nothing_wrong(
    transport, era, revision, live_server, mcp_key, tmp_path
) -> None:
    with warnings_logged() as records:
        async with connect(transport, live_server, mcp_key, tmp_path, era=era) as client:
            assert client.protocol_version == revision
            assert client.server_info.name == "sandbox" and client.server_info.version == version("sandbox")
            tools = (await client.list_tools()).tools
            assert len(tools) == 9
            result = await client.call_tool("execute", {"code": "print(6 * 7)"})
            assert not result.is_error and result.structured_content["stdout"] == "42\n"
            refused = await client.call_tool("execute", {"code": "import subprocess"})
            assert refused.is_error and json.loads(refused.content[0].text)["status"] == "validation_rejected"
    if transport == "http":  # the live server runs in this process: its records are ours
        assert not [r.getMessage() for r in records], [f"{r.name}: {r.getMessage()}" for r in records]
    else:
        assert_quiet((tmp_path / "stdio-server.log").read_text())


@pytest.mark.parametrize("revision", ["2025-03-26", "2025-06-18", "2025-11-25"])
async def test_each_2025_revision_is_negotiated_over_http(revision, live_server, mcp_key) -> None:
    headers = {"Authorization": f"Bearer {mcp_key}", "Accept": "application/json, text/event-stream"}
    hello = {"protocolVersion": revision, "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}
    with warnings_logged() as records:
        async with httpx.AsyncClient(base_url=live_server.url, headers=headers, timeout=60) as http:
            answer = await http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": hello})
            assert answer.status_code == 200, answer.text
            result = _event(answer)["result"]
            assert result["protocolVersion"] == revision
            assert result["serverInfo"]["version"] == version("sandbox")
            session = {"Mcp-Session-Id": answer.headers["mcp-session-id"], "MCP-Protocol-Version": revision}
            await http.post("/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=session)
            call = {"name": "execute", "arguments": {"code": "print('rev')"}}
            answer = await http.post(
                "/mcp", json={"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": call}, headers=session
            )
            called = _event(answer)["result"]
            assert called["isError"] is False and called["structuredContent"]["stdout"] == "rev\n"
            await http.delete("/mcp", headers=session)
    assert not [r.getMessage() for r in records], [f"{r.name}: {r.getMessage()}" for r in records]


def _event(response: httpx.Response) -> dict:
    """The JSON-RPC message of a response, whether sent as JSON or as one SSE event."""
    if response.headers.get("content-type", "").startswith("application/json"):
        return dict(response.json())
    data = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:") and line[5:].strip()]
    return dict(json.loads(data[-1]))


def check_mcp1(found: dict) -> None:
    assert found["sdk"].startswith("1."), found["sdk"]
    assert found["protocol_version"] in ("2025-06-18", "2025-11-25")
    assert found["server_info"]["name"] == "sandbox" and found["server_info"]["version"] == version("sandbox")
    assert found["tools"]["execute"]["readOnlyHint"] is False and found["tools"]["session_close"]["destructiveHint"]
    executed = found["execute"]
    assert executed["is_error"] is False and executed["structured"]["stdout"] == "hello from 1.x\n"
    assert executed["content"][0]["text"].startswith("hello from 1.x\n\n[stderr]\nwarn\n\n[status: ok")
    assert "stdout: hello from 1.x\n" in found["progress"]
    refused = found["refused"]
    assert refused["is_error"] is True and len(refused["content"]) == 1
    body = json.loads(refused["content"][0]["text"])
    assert body == refused["structured"] and body["status"] == "validation_rejected" and body["findings"]


async def test_a_1x_client_over_http(live_server, mcp_key) -> None:
    with warnings_logged() as records:
        found = mcp1_client("http", f"{live_server.url}/mcp", mcp_key)
    check_mcp1(found)
    assert not [r.getMessage() for r in records], [f"{r.name}: {r.getMessage()}" for r in records]


def test_a_1x_client_over_stdio(tmp_path) -> None:
    params = stdio_params(tmp_path)
    found = mcp1_client("stdio", params.command, *params.args, env={**os.environ, **(params.env or {})})
    check_mcp1(found)
    # The server's stderr reaches the client's (the 1.x stdio client passes it through).
    assert_quiet("\n".join(line for line in found["stderr"].splitlines() if line.startswith("{")))
