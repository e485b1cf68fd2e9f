"""The MCP door with the SDK 2.x client, over streamable HTTP (the live server) and stdio (`sandbox mcp`).

Each test runs over both transports; the client lands on the 2026-07-28 revision (``server/discover``,
no session). ``test_mcp_eras.py`` covers the 2025 revisions and a real 1.x client.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
from importlib.metadata import version

import httpx
import pytest
from mcp.types import BlobResourceContents, EmbeddedResource, ImageContent

from tests.docker_fixtures import SESSION_OWNER
from tests.e2e.mcp_clients import ROOT, STDIO_OWNER, connect

pytestmark = pytest.mark.anyio
TOOLS = {
    "execute",
    "validate",
    "session_create",
    "session_execute",
    "session_files_write",
    "session_files_read",
    "session_files_list",
    "session_close",
    "sandbox_info",
}


@pytest.fixture(scope="module")
def mcp_key(live_server) -> str:
    return live_server.key("e2e-mcp")


@pytest.fixture(params=["http", "stdio"])
def transport(request) -> str:
    return request.param


async def call(client, tool: str, **arguments):
    return await client.call_tool(tool, arguments)


def error_of(result) -> dict:
    """The error object of a tool error: the text is that object alone, and so is the structured content."""
    assert result.is_error, result
    assert len(result.content) == 1
    body = json.loads(result.content[0].text)
    assert set(body) == {"status", "message", "findings"}
    assert result.structured_content == body
    return body


async def test_tools_and_schemas(transport, live_server, mcp_key, tmp_path) -> None:
    async with connect(transport, live_server, mcp_key, tmp_path) as client:
        assert client.protocol_version == "2026-07-28"
        assert client.server_info.name == "sandbox" and client.server_info.version == version("sandbox")
        assert "No network" in client.instructions
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert set(tools) == TOOLS
        execute = tools["execute"]
        assert execute.input_schema["required"] == ["code"]
        assert {"status", "stdout", "stderr", "exit_code", "findings"} <= set(execute.output_schema["properties"])
        assert "rust (aliases rs; compiled; main.rs)" in execute.input_schema["properties"]["language"]["description"]
        info = (await call(client, "sandbox_info")).structured_content
        java = next(entry for entry in info["languages"] if entry["name"] == "java")
        assert java["compiled"] and java["main_file"] == "Main.java" and java["built"] and "openjdk" in java["version"]


async def test_every_parameter_is_described_and_choices_are_enums(live_server, mcp_key, tmp_path) -> None:
    settings = live_server.settings
    async with connect("http", live_server, mcp_key, tmp_path) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    for tool in tools.values():
        for name, schema in tool.input_schema.get("properties", {}).items():
            assert schema.get("description"), f"{tool.name}.{name} has no description"
    execute = tools["execute"].input_schema["properties"]
    assert execute["language"]["enum"] == sorted(
        ["bash", "c", "cpp", "go", "java", "javascript", "python", "rust", "typescript"]
    )
    policies = execute["policy"]["anyOf"][0]["enum"]
    assert policies == ["permissive", "standard", "strict"]  # every policies/*.yaml, loosest first
    assert tools["validate"].input_schema["properties"]["policy"]["anyOf"][0]["enum"] == policies
    limits = execute["limits"]["anyOf"][0]["properties"]
    assert limits["wall_time_s"]["maximum"] == settings.max_wall_time_s
    assert "Unit: seconds. Default 10, server maximum 60." in limits["wall_time_s"]["description"]
    assert "Unit: MiB. Default 256, server maximum 2048." in limits["memory_mb"]["description"]
    assert "Unit: bytes. Default 1048576" in limits["stdout_bytes"]["description"]
    hints = {name: tool.annotations for name, tool in tools.items()}
    assert all(h is not None and h.open_world_hint is False for h in hints.values())
    run = hints["execute"]
    assert (run.read_only_hint, run.destructive_hint, run.idempotent_hint) == (False, False, False)
    assert hints["session_close"].destructive_hint is True and hints["session_close"].read_only_hint is False
    for name in ("sandbox_info", "validate", "session_files_read"):
        assert hints[name].read_only_hint is True and hints[name].idempotent_hint is True, name


async def test_execute_returns_text_and_structured_result(transport, live_server, mcp_key, tmp_path) -> None:
    async with connect(transport, live_server, mcp_key, tmp_path) as client:
        result = await call(client, "execute", code="print('hello world')")
        assert not result.is_error
        assert result.structured_content["status"] == "ok" and result.structured_content["stdout"] == "hello world\n"
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
    async with connect(transport, live_server, mcp_key, tmp_path) as client:
        result = await call(client, "execute", code=code, limits=limits)
        assert not result.is_error and result.structured_content["status"] == status


async def test_refusals_are_tool_errors_with_status(transport, live_server, mcp_key, tmp_path) -> None:
    async with connect(transport, live_server, mcp_key, tmp_path) as client:
        denied = error_of(await call(client, "execute", code="import subprocess"))
        assert denied["status"] == "validation_rejected" and denied["findings"][0]["rule_id"] == "import.denied"
        over = error_of(await call(client, "execute", code="print(1)", limits={"wall_time_s": 600}))
        assert over == {
            "status": "rejected",
            "message": "wall_time_s=600 exceeds the server maximum 60",
            "findings": [],
        }
        assert error_of(await call(client, "execute", code="def f(:"))["status"] == "syntax_error"
        bad = error_of(await call(client, "execute", code="print(1)", limits={"wall_time_s": -1}))
        assert bad["status"] == "rejected" and "wall_time_s" in bad["message"]
        assert error_of(await call(client, "execute", code="print(1)", language="cobol"))["status"] == "rejected"
        assert error_of(await call(client, "no_such_tool"))["status"] == "rejected"


async def test_a_language_alias_is_accepted(live_server, mcp_key, tmp_path) -> None:
    async with connect("http", live_server, mcp_key, tmp_path) as client:
        result = await call(client, "execute", code="print('py')", language="py")
    assert not result.is_error and result.structured_content["stdout"] == "py\n"


async def test_progress_arrives_before_the_result(transport, live_server, mcp_key, tmp_path) -> None:
    seen: list[tuple[float, str]] = []

    async def progress(value, total, message) -> None:
        seen.append((time.monotonic(), message))

    code = "import time\nfor i in range(3):\n    print(i, flush=True)\n    time.sleep(0.3)"
    async with connect(transport, live_server, mcp_key, tmp_path) as client:
        result = await client.call_tool("execute", {"code": code}, progress_callback=progress)
        finished = time.monotonic()
    assert [m for _, m in seen] == ["stdout: 0\n", "stdout: 1\n", "stdout: 2\n"]
    assert seen[0][0] < finished - 0.4, "the first chunk came only with the result"
    assert result.structured_content["stdout"] == "0\n1\n2\n"


async def test_cancellation_kills_the_container(transport, live_server, mcp_key, tmp_path, docker_client) -> None:
    """Cancelling a running `execute` kills its program at once.

    The 2.x client cancels as its revision says: over HTTP (2026-07-28) by closing the
    request's response stream, over stdio with `notifications/cancelled`. The program's
    wall limit is 60 s: only the cancellation can end it within the deadline below.
    """
    owner = live_server.settings.owner if transport == "http" else STDIO_OWNER
    started = asyncio.Event()

    async def progress(value, total, message) -> None:
        started.set()

    async with connect(transport, live_server, mcp_key, tmp_path) as client:
        code = "import time\nprint('up', flush=True)\ntime.sleep(60)"
        arguments = {"code": code, "limits": {"wall_time_s": 60}}
        task = asyncio.create_task(client.call_tool("execute", arguments, progress_callback=progress))
        await asyncio.wait_for(started.wait(), 30)
        assert busy(docker_client, owner)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        deadline = time.monotonic() + 8
        while busy(docker_client, owner):
            assert time.monotonic() < deadline, "the cancelled execution's container is still running a program"
            await asyncio.sleep(0.2)
        again = await call(client, "execute", code="print('still here')")  # the server is well after it
        assert again.structured_content["stdout"] == "still here\n"


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


def without_timings(text: str) -> str:
    return re.sub(r"\d+ ms", "N ms", text)


async def test_sessions_keep_state_and_files_round_trip(transport, live_server, mcp_key, tmp_path) -> None:
    async with connect(transport, live_server, mcp_key, tmp_path) as client:
        opened = await call(client, "session_create", idle_ttl_s=60)
        sid = opened.structured_content["id"]
        await call(client, "session_execute", session_id=sid, code="total = 40")
        again = await call(client, "session_execute", session_id=sid, code="total += 2\nprint(total)")
        assert again.structured_content["stdout"] == "42\n"
        blob = base64.b64encode(bytes(range(256))).decode()
        written = await call(
            client, "session_files_write", session_id=sid, path="b.bin", content=blob, encoding="base64"
        )
        assert not written.is_error
        code = "open('r.bin','wb').write(open('b.bin','rb').read()[::-1])\nopen('t.txt','w').write('héllo\\n')"
        await call(client, "session_execute", session_id=sid, code=code)
        read = await call(client, "session_files_read", session_id=sid, path="r.bin")
        embedded = [block for block in read.content if isinstance(block, EmbeddedResource)]
        assert len(embedded) == 1 and isinstance(embedded[0].resource, BlobResourceContents)
        assert embedded[0].resource.mime_type == "application/octet-stream"
        assert base64.b64decode(embedded[0].resource.blob) == bytes(range(256))[::-1]
        reversed_blob = base64.b64encode(bytes(range(256))[::-1]).decode()
        assert not any(block.type == "text" and reversed_blob[:40] in block.text for block in read.content)
        text = await call(client, "session_files_read", session_id=sid, path="t.txt")
        assert [(block.type, block.text) for block in text.content] == [("text", "héllo\n")]
        listing = (await call(client, "session_files_list", session_id=sid)).structured_content
        assert {(f["path"], f["type"], f["size"]) for f in listing["items"]} == {
            ("b.bin", "file", 256),
            ("r.bin", "file", 256),
            ("t.txt", "file", 7),
        }
        missing = error_of(await call(client, "session_files_read", session_id=sid, path="nope"))
        assert missing["status"] == "rejected" and "nope" in missing["message"], missing
        plot = "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\ntotal"
        shown = await call(client, "session_execute", session_id=sid, code=plot)
        assert shown.structured_content["stdout"] == "42\n"  # the last expression, displayed
        images = [block for block in shown.content if isinstance(block, ImageContent)]
        assert len(images) == 1 and base64.b64decode(images[0].data).startswith(b"\x89PNG\r\n\x1a\n")
        assert not (await call(client, "session_close", session_id=sid)).is_error
        assert error_of(await call(client, "session_execute", session_id=sid, code="print(1)"))["status"] == "rejected"


async def test_session_execute_reads_like_execute(transport, live_server, mcp_key, tmp_path) -> None:
    code = "import sys\nprint('out')\nprint('err', file=sys.stderr)\nsys.exit(2)"
    async with connect(transport, live_server, mcp_key, tmp_path) as client:
        once = await call(client, "execute", code=code)
        sid = (await call(client, "session_create")).structured_content["id"]
        cell = await call(client, "session_execute", session_id=sid, code=code)
        await call(client, "session_close", session_id=sid)
    assert not once.is_error and not cell.is_error
    assert [block.type for block in cell.content] == [block.type for block in once.content] == ["text"]
    assert once.content[0].text.startswith("out\n\n[stderr]\nerr\n\n[status: runtime_error, exit code 2")
    assert without_timings(cell.content[0].text) == without_timings(once.content[0].text)


def test_sigterm_stops_the_stdio_server_cleanly(tmp_path, docker_client) -> None:
    """A client that shuts `sandbox mcp` down with SIGTERM leaves no container behind (its warm pool)."""
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
    async with connect("http", live_server, mcp_key, tmp_path) as client:
        via_mcp = (await call(client, "execute", code=code)).structured_content
    with live_server.client(mcp_key) as client:
        via_rest = client.post("/v1/executions", json={"code": code}).json()
    fields = ("status", "exit_code", "stdout", "stderr", "stdout_truncated", "stderr_truncated", "findings", "policy")
    assert {f: via_mcp[f] for f in fields} == {f: via_rest[f] for f in fields}
