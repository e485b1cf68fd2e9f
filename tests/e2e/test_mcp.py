"""The MCP door with the SDK's own client, over streamable HTTP (the live server) and stdio (`sandbox mcp`)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
import time
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CancelledNotification, CancelledNotificationParams, ClientNotification

from tests.docker_fixtures import SESSION_OWNER

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]
TOOLS = {
    "execute",
    "validate",
    "session_create",
    "session_execute",
    "session_files_write",
    "session_files_read",
    "session_close",
    "sandbox_info",
}


@pytest.fixture(scope="module")
def mcp_key(live_server) -> str:
    return live_server.key("e2e-mcp")


@pytest.fixture(params=["http", "stdio"])
def transport(request) -> str:
    return request.param


@asynccontextmanager
async def connect(transport: str, live_server, key: str, tmp_path: Path):
    if transport == "http":
        headers = {"Authorization": f"Bearer {key}"}
        async with (
            httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(60, read=300)) as http,
            streamable_http_client(f"{live_server.url}/mcp", http_client=http) as (read, write, _),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session
    else:
        env = {
            **os.environ,
            "SANDBOX_STATE_DIR": str(tmp_path / "stdio-state"),
            "SANDBOX_POOL_SIZE": "1",
            "SANDBOX_VALIDATION_WORKERS": "0",
            "SANDBOX_OWNER": f"{SESSION_OWNER}-mcp-stdio",
        }
        params = StdioServerParameters(command=sys.executable, args=["-m", "sandbox.cli", "mcp"], env=env, cwd=ROOT)
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            yield session


async def call(session: ClientSession, tool: str, **arguments):
    return await session.call_tool(tool, arguments)


async def test_tools_and_schemas(transport, live_server, mcp_key, tmp_path) -> None:
    async with connect(transport, live_server, mcp_key, tmp_path) as session:
        tools = {t.name: t for t in (await session.list_tools()).tools}
        assert set(tools) == TOOLS
        execute = tools["execute"]
        assert "No network" in (await session.initialize()).instructions
        assert execute.inputSchema["required"] == ["code"]
        assert {"status", "stdout", "stderr", "exit_code", "findings"} <= set(execute.outputSchema["properties"])
        assert "no network" in execute.description.lower() or "sandbox" in execute.description.lower()
        assert "rust (rs; compiled; main.rs)" in execute.description  # every language, from the catalog
        info = (await call(session, "sandbox_info")).structuredContent
        java = next(entry for entry in info["languages"] if entry["name"] == "java")
        assert java["compiled"] and java["main_file"] == "Main.java" and java["built"] and "openjdk" in java["version"]


async def test_execute_returns_text_and_structured_result(transport, live_server, mcp_key, tmp_path) -> None:
    async with connect(transport, live_server, mcp_key, tmp_path) as session:
        result = await call(session, "execute", code="print('hello world')")
        assert not result.isError
        assert result.structuredContent["status"] == "ok" and result.structuredContent["stdout"] == "hello world\n"
        assert "hello world" in result.content[0].text and "[status: ok" in result.content[0].text


@pytest.mark.parametrize(
    ("code", "limits", "status"),
    [
        ("import sys\nsys.exit(3)", {}, "runtime_error"),
        ("import time\ntime.sleep(5)", {"wall_time_s": 1}, "timeout"),
        ("while True: print('x' * 1000)", {"stdout_bytes": 10_000}, "output_limit_exceeded"),
        ("b = []\nwhile True:\n    b.append(bytearray(16 << 20))", {"memory_mb": 128}, "memory_exceeded"),
    ],
)
async def test_each_status_comes_back_structured(
    transport, live_server, mcp_key, tmp_path, code, limits, status
) -> None:
    async with connect(transport, live_server, mcp_key, tmp_path) as session:
        result = await call(session, "execute", code=code, limits=limits)
        assert not result.isError and result.structuredContent["status"] == status


async def test_refusals_are_tool_errors_with_status(transport, live_server, mcp_key, tmp_path) -> None:
    async with connect(transport, live_server, mcp_key, tmp_path) as session:
        denied = await call(session, "execute", code="import subprocess")
        assert denied.isError
        body = json.loads(denied.content[0].text)  # the error object alone, as REST's problem carries it
        assert set(body) == {"code", "message", "findings"}
        assert body["code"] == "validation_rejected" and body["findings"][0]["rule_id"] == "import.denied"
        over = await call(session, "execute", code="print(1)", limits={"wall_time_s": 600})
        assert over.isError and json.loads(over.content[0].text) == {
            "code": "rejected",
            "message": "wall_time_s=600 exceeds the server maximum 60",
            "findings": [],
        }
        syntax = await call(session, "execute", code="def f(:")
        assert syntax.isError and json.loads(syntax.content[0].text)["code"] == "syntax_error"
        bad = await call(session, "execute", code="print(1)", limits={"wall_time_s": -1})
        assert bad.isError and json.loads(bad.content[0].text)["code"] == "rejected"
        assert "wall_time_s" in json.loads(bad.content[0].text)["message"]
        unknown = await call(session, "no_such_tool")
        assert unknown.isError and json.loads(unknown.content[0].text)["code"] == "rejected"


async def test_progress_arrives_before_the_result(transport, live_server, mcp_key, tmp_path) -> None:
    seen: list[tuple[float, str]] = []

    async def progress(value, total, message) -> None:
        seen.append((time.monotonic(), message))

    code = "import time\nfor i in range(3):\n    print(i, flush=True)\n    time.sleep(0.3)"
    async with connect(transport, live_server, mcp_key, tmp_path) as session:
        result = await session.call_tool("execute", {"code": code}, progress_callback=progress)
        finished = time.monotonic()
    assert [m for _, m in seen] == ["stdout: 0\n", "stdout: 1\n", "stdout: 2\n"]
    assert seen[0][0] < finished - 0.4, "the first chunk came only with the result"
    assert result.structuredContent["stdout"] == "0\n1\n2\n"


async def test_cancellation_kills_the_container(transport, live_server, mcp_key, tmp_path, docker_client) -> None:
    """A `notifications/cancelled` for a running `execute` kills its program at once.

    The SDK's own client (1.x) cancels a call locally without telling the server, so
    the test sends the notification a spec-following client sends. The program's wall
    limit is 60 s: only the cancellation can end it within the deadline below.
    """
    owner = live_server.settings.owner if transport == "http" else f"{SESSION_OWNER}-mcp-stdio"
    started = asyncio.Event()

    async def progress(value, total, message) -> None:
        started.set()

    async with connect(transport, live_server, mcp_key, tmp_path) as session:
        code = "import time\nprint('up', flush=True)\ntime.sleep(60)"
        arguments = {"code": code, "limits": {"wall_time_s": 60}}
        task = asyncio.create_task(session.call_tool("execute", arguments, progress_callback=progress))
        await asyncio.wait_for(started.wait(), 30)
        request_id = session._request_id - 1  # the id of the call above (no public accessor)
        assert busy(docker_client, owner)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        cancelled = CancelledNotification(params=CancelledNotificationParams(requestId=request_id, reason="test"))
        await session.send_notification(ClientNotification(cancelled))
        deadline = time.monotonic() + 8
        while busy(docker_client, owner):
            assert time.monotonic() < deadline, "the cancelled execution's container is still running a program"
            await asyncio.sleep(0.2)
        await session.send_ping()  # the server is still well after the cancellation


def busy(docker_client, owner: str) -> list[str]:
    """Containers of this owner running more than their runner (a program)."""
    import docker

    found = []
    for container in docker_client.api.containers(filters={"label": f"io.sandbox.owner={owner}"}):
        try:
            if len(docker_client.api.top(container["Id"])["Processes"] or []) > 1:
                found.append(container["Id"][:12])
        except docker.errors.APIError:
            pass
    return found


async def test_sessions_keep_state_and_files_round_trip(transport, live_server, mcp_key, tmp_path) -> None:
    async with connect(transport, live_server, mcp_key, tmp_path) as session:
        opened = await call(session, "session_create", idle_ttl_s=60)
        sid = opened.structuredContent["id"]
        await call(session, "session_execute", session_id=sid, code="total = 40")
        again = await call(session, "session_execute", session_id=sid, code="total += 2\nprint(total)")
        assert again.structuredContent["stdout"] == "42\n"
        blob = base64.b64encode(bytes(range(256))).decode()
        written = await call(
            session, "session_files_write", session_id=sid, path="b.bin", content=blob, encoding="base64"
        )
        assert not written.isError
        await call(
            session, "session_execute", session_id=sid, code="open('r.bin','wb').write(open('b.bin','rb').read()[::-1])"
        )
        read = await call(session, "session_files_read", session_id=sid, path="r.bin", encoding="base64")
        assert base64.b64decode(read.structuredContent["content"]) == bytes(range(256))[::-1]
        assert not (await call(session, "session_close", session_id=sid)).isError
        gone = await call(session, "session_execute", session_id=sid, code="print(1)")
        assert gone.isError and json.loads(gone.content[0].text)["code"] == "rejected"


def test_sigterm_stops_the_stdio_server_cleanly(tmp_path, docker_client) -> None:
    """A client that shuts `sandbox mcp` down with SIGTERM leaves no container behind (its warm pool)."""
    import signal
    import subprocess

    owner = f"{SESSION_OWNER}-mcp-sigterm"
    env = {**os.environ, "SANDBOX_STATE_DIR": str(tmp_path), "SANDBOX_POOL_SIZE": "1", "SANDBOX_OWNER": owner}
    env["SANDBOX_VALIDATION_WORKERS"] = "0"
    command = [sys.executable, "-m", "sandbox.cli", "mcp"]
    with subprocess.Popen(command, env=env, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE) as server:
        try:
            deadline = time.monotonic() + 60
            while not docker_client.api.containers(filters={"label": f"io.sandbox.owner={owner}"}):
                assert server.poll() is None and time.monotonic() < deadline, "the warm pool never filled"
                time.sleep(0.2)
            server.send_signal(signal.SIGTERM)
            assert server.wait(timeout=30) == 0
        finally:
            if server.poll() is None:
                server.kill()
    assert not docker_client.api.containers(all=True, filters={"label": f"io.sandbox.owner={owner}"})


async def test_http_without_a_key_is_refused(live_server) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{live_server.url}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert response.status_code == 401


async def test_mcp_and_rest_agree(live_server, mcp_key, tmp_path) -> None:
    code = "import sys\nprint('out')\nprint('err', file=sys.stderr)\nsys.exit(4)"
    async with connect("http", live_server, mcp_key, tmp_path) as session:
        via_mcp = (await call(session, "execute", code=code)).structuredContent
    with live_server.client(mcp_key) as client:
        via_rest = client.post("/v1/executions", json={"code": code}).json()
    fields = ("status", "exit_code", "stdout", "stderr", "stdout_truncated", "stderr_truncated", "findings", "policy")
    assert {f: via_mcp[f] for f in fields} == {f: via_rest[f] for f in fields}
