"""An MCP client that goes away is one quiet line, over streamable HTTP and over stdio (FakeBackend).

Reproduced as it happens: over HTTP, a client that gives up on a running call and
ends its session (DELETE) while its event stream is open made the SDK 1.x log
``Error in standalone SSE writer`` with an ``anyio.ClosedResourceError``
traceback (2.x logs nothing: the test holds it to at most one info line); over
stdio, a client that closes our stdout made ``sandbox mcp``
exit 70 with a ``BrokenPipeError`` traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.unit.observability.conftest import Configure
from tests.unit.observability.util import lines


@pytest.mark.anyio
async def test_a_client_leaving_mid_call_over_http_is_one_quiet_line(
    mcp_server: tuple[str, str], logs: Configure
) -> None:
    url, key = mcp_server
    buffer = logs(log_level="debug")
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30) as http,
        # The 2025 era: a session with its event stream, ended by DELETE when the client leaves.
        Client(streamable_http_client(url, http_client=http), mode="legacy") as client,
    ):
        with anyio.move_on_after(0.5):  # give up on the call; leaving ends the session (DELETE)
            await client.call_tool("execute", {"code": "print(1)"})
    await anyio.sleep(1)  # the call's execution is killed with the session, and recorded
    found = lines(buffer)
    assert "Traceback" not in buffer.getvalue()
    assert not [line for line in found if line["level"] in ("error", "critical")]
    # SDK 1.x logged the closed stream as an error (now one info line); SDK 2.x ends it quietly.
    gone = [line for line in found if "went away" in line["message"]]
    assert len(gone) <= 1 and all(line["level"] == "info" and line["logger"].startswith("mcp.") for line in gone)
    # The call's own lines carry the id of the request that carried it (not of the session's first).
    posts = [line["request_id"] for line in found if line.get("path") == "/mcp" and line.get("method") == "POST"]
    execution = [line for line in found if "execution_id" in line]
    assert {line["stage"] for line in execution if "stage" in line} >= {"admit", "validate", "run", "record"}
    strays = [line for line in execution if line.get("key") != "agent" or line.get("request_id") not in posts[1:]]
    assert not strays, (strays, posts)


def test_a_stdio_client_that_closes_our_stdout_is_one_line_and_a_clean_exit(tmp_path: Path) -> None:
    server = (
        "import asyncio, sys\n"
        "import sandbox.service as service\n"
        "from tests.unit.observability.util import slow\n"
        "from sandbox.engine import FakeBackend\n"
        "real = service.build_service\n"
        "service.build_service = lambda settings, **kw: real(settings, **{**kw, 'backend': FakeBackend(slow)})\n"
        "from sandbox.cli import app\n"
        "sys.argv = ['sandbox', 'mcp']\n"
        "app()\n"
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SANDBOX_")},
        "SANDBOX_STATE_DIR": str(tmp_path),
        "SANDBOX_POOL_SIZE": "0",
        "SANDBOX_VALIDATION_WORKERS": "0",
        "SANDBOX_LOG_FORMAT": "json",
    }
    process = subprocess.Popen(
        [sys.executable, "-c", server],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert process.stdin is not None and process.stdout is not None

    def send(message: dict[str, object]) -> None:
        assert process.stdin is not None
        process.stdin.write(json.dumps(message).encode() + b"\n")
        process.stdin.flush()

    try:
        info = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
        send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": info})
        assert json.loads(process.stdout.readline())["id"] == 1
        send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        send(
            {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "tools/call",
                "params": {"name": "execute", "arguments": {"code": "print(1)"}},
            }
        )
        time.sleep(0.3)
        process.stdout.close()  # the client stops reading: the answer meets a broken pipe
        time.sleep(2)
        process.stdin.close()  # ... and then it is gone altogether
        process.wait(timeout=30)
    finally:
        if process.returncode is None:
            process.kill()  # our own child only
            process.wait()
        assert process.stderr is not None
        text = process.stderr.read().decode()
        process.stderr.close()
    assert process.returncode == 0, text
    assert "Traceback" not in text and "internal_error" not in text
    found = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    gone = [line for line in found if "went away" in line["message"]]
    assert len(gone) == 1 and gone[0]["level"] == "info", text
