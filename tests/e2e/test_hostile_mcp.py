"""Hostile MCP clients against the session tools (and the MCP transport) after the one-path refactor.

Over streamable HTTP with the SDK 2.x client (``connect`` from ``mcp_clients``), plus raw HTTP where
a hostile client would not use the SDK. The tests that need an MCP session (its id, cancellation by
request id) use the 2025 handshake era, where sessions exist; a 2026-07-28 request has no session to
steal. Tests marked ``xfail(strict=True)`` record a weakness found here: they assert the correct
behaviour and fail until it is fixed.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sqlite3
from collections.abc import Callable
from contextlib import asynccontextmanager

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tests.e2e.mcp_clients import connect

pytestmark = pytest.mark.anyio
ERROR_KEYS = {"status", "message", "findings"}


async def call(client: Client, tool: str, **arguments):
    return await client.call_tool(tool, arguments)


def error_of(result) -> dict:
    """The bare error object of a tool error."""
    assert result.is_error, result
    body = json.loads(result.content[0].text)
    assert set(body) == ERROR_KEYS, body
    return body


async def open_session(client: Client, **arguments) -> str:
    opened = await call(client, "session_create", **arguments)
    assert not opened.is_error, opened
    return opened.structured_content["id"]


async def cancel(task: asyncio.Task) -> None:
    """What a client does: stop waiting; the 2.x client then tells the server (its revision's way)."""
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def started_call(client: Client, tool: str, arguments: dict, started: asyncio.Event | None = None):
    """Start a tool call in a task."""

    async def progress(value, total, message) -> None:
        if started is not None:
            started.set()

    task = asyncio.create_task(client.call_tool(tool, arguments, progress_callback=progress))
    await asyncio.sleep(0.2)  # the request is sent
    return task


@asynccontextmanager
async def connect_with_id(live_server, key: str):
    """An SDK session of the 2025 era over HTTP, and a function returning its Mcp-Session-Id."""
    headers = {"Authorization": f"Bearer {key}"}
    seen: list[str] = []

    async def remember(response: httpx2.Response) -> None:
        if "mcp-session-id" in response.headers:
            seen.append(response.headers["mcp-session-id"])

    session_id: Callable[[], str] = lambda: seen[-1]  # noqa: E731
    async with (
        httpx2.AsyncClient(
            headers=headers, timeout=httpx2.Timeout(60, read=300), event_hooks={"response": [remember]}
        ) as http,
        Client(streamable_http_client(f"{live_server.url}/mcp", http_client=http), mode="legacy") as client,
    ):
        yield client, session_id


def raw_headers(key: str, mcp_session_id: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {key}",
        "Mcp-Session-Id": mcp_session_id,
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "MCP-Protocol-Version": "2025-11-25",
    }


# ---------------------------------------------------------------------------------------- cancellation
async def test_cancelling_a_running_cell_kills_it_ends_the_session_and_frees_the_slot(live_server, tmp_path) -> None:
    key = live_server.key("hostile-mcp-cancel-running", concurrency=1)
    async with connect("http", live_server, key, tmp_path) as client:
        sid = await open_session(client)
        started = asyncio.Event()
        code = "import time\nprint('up', flush=True)\ntime.sleep(40)"
        arguments = {"session_id": sid, "code": code, "limits": {"wall_time_s": 50}}
        task = await started_call(client, "session_execute", arguments, started)
        await asyncio.wait_for(started.wait(), 30)
        await cancel(task)
        with live_server.client(key) as rest:
            for _ in range(100):
                info = rest.get(f"/v1/sessions/{sid}").json()
                if info["state"] == "closed":
                    break
                await asyncio.sleep(0.1)
            assert (info["state"], info["closed_reason"]) == ("closed", "ended by a call (killed)"), info
            killed = [i for i in rest.get("/v1/executions").json()["items"] if i["session_id"] == sid]
            assert [(i["status"], i["stdout"]) for i in killed] == [("killed", "up\n")]
        # The key's only concurrency slot came back: it runs again at once.
        again = await asyncio.wait_for(call(client, "execute", code="print('again')"), 30)
        assert not again.is_error and again.structured_content["stdout"] == "again\n"


async def test_cancelling_a_queued_cell_leaves_the_session_and_the_running_cell_alone(live_server, tmp_path) -> None:
    key = live_server.key("hostile-mcp-cancel-queued")
    async with connect("http", live_server, key, tmp_path) as client:
        sid = await open_session(client)
        assert not (await call(client, "session_execute", session_id=sid, code="n = 1")).is_error
        started = asyncio.Event()
        first_code = "import time\nprint('up', flush=True)\ntime.sleep(2)\nn += 1\nprint(n)"
        first = await started_call(client, "session_execute", {"session_id": sid, "code": first_code}, started)
        await asyncio.wait_for(started.wait(), 30)
        queued = await started_call(client, "session_execute", {"session_id": sid, "code": "n += 100"})
        await cancel(queued)
        done = await asyncio.wait_for(first, 30)
        assert not done.is_error and done.structured_content["status"] == "ok"
        assert done.structured_content["stdout"] == "up\n2\n"
        after = await call(client, "session_execute", session_id=sid, code="print(n)")
        assert after.structured_content["stdout"] == "2\n", "the cancelled cell ran anyway"
        with live_server.client(key) as rest:
            statuses = sorted(i["status"] for i in rest.get("/v1/executions").json()["items"] if i["session_id"] == sid)
            assert statuses == ["killed", "ok", "ok", "ok"]
            assert rest.get(f"/v1/sessions/{sid}").json()["state"] == "open"
        assert not (await call(client, "session_close", session_id=sid)).is_error


async def test_cancelling_session_create_leaks_no_session(live_server, tmp_path, docker_client) -> None:
    """At 4e5f8ac a session_create cancelled while its record was written left an open session nobody knew
    the id of, holding one of the key's session slots and a container until its idle TTL."""
    key = live_server.key("hostile-mcp-cancel-create")
    owner = live_server.settings.owner
    async with connect("http", live_server, key, tmp_path) as client:
        # Another writer holds the database (WAL: reads go on): the session's record write waits (busy_timeout 5 s).
        lock = sqlite3.connect(live_server.settings.state_dir / "sandbox.db", isolation_level=None, timeout=5)
        try:
            lock.execute("BEGIN IMMEDIATE")
            task = await started_call(client, "session_create", {"idle_ttl_s": 600})
            await asyncio.sleep(3)  # the container is made (~1 s); the record write is waiting for the lock
            await cancel(task)
            await asyncio.sleep(0.3)
        finally:
            lock.execute("ROLLBACK")
            lock.close()
    cap = live_server.settings.max_sessions_per_key
    with live_server.client(key) as rest:
        answers = [rest.post("/v1/sessions", json={"idle_ttl_s": 60}) for _ in range(cap)]
        for answer in answers:
            if answer.status_code == 201:
                rest.delete(f"/v1/sessions/{answer.json()['id']}")
    assert [a.status_code for a in answers] == [201] * cap, "a cancelled session_create still holds a session slot"
    deadline = asyncio.get_running_loop().time() + 15
    while left := [
        c["Id"][:12]
        for c in docker_client.api.containers(all=True, filters={"label": f"io.sandbox.owner={owner}"})
        if c["Labels"].get("io.sandbox.kind") == "session"
    ]:
        assert asyncio.get_running_loop().time() < deadline, f"session containers left: {left}"
        await asyncio.sleep(0.3)


async def test_cells_queued_behind_a_session_ending_cell_are_not_internal_errors(live_server, tmp_path) -> None:
    key = live_server.key("hostile-mcp-queued-behind-end")
    async with connect("http", live_server, key, tmp_path) as client:
        sid = await open_session(client)
        started = asyncio.Event()
        ending_code = "import time\nprint('up', flush=True)\ntime.sleep(30)"
        ending = await started_call(
            client, "session_execute", {"session_id": sid, "code": ending_code, "limits": {"wall_time_s": 2}}, started
        )
        await asyncio.wait_for(started.wait(), 30)
        queued = [asyncio.create_task(call(client, "session_execute", session_id=sid, code="print(1)")) for _ in "ab"]
        assert (await ending).structured_content["status"] == "timeout"
        for result in await asyncio.gather(*queued):
            if result.is_error:
                assert error_of(result)["status"] != "internal_error", result
            else:
                assert result.structured_content["status"] != "internal_error", result.structured_content


# ------------------------------------------------------------------------------------------ tool errors
async def test_session_tool_errors_are_the_bare_error_object(live_server, tmp_path) -> None:
    key = live_server.key("hostile-mcp-errors")
    cap = live_server.settings.request_bytes
    async with connect("http", live_server, key, tmp_path) as client:
        sid = await open_session(client, limits={"memory_mb": 128})
        unknown = error_of(await call(client, "session_execute", session_id="0" * 32, code="print(1)"))
        assert unknown["status"] == "rejected" and unknown["findings"] == []
        denied = error_of(await call(client, "session_execute", session_id=sid, code="import subprocess"))
        assert denied["status"] == "validation_rejected" and denied["findings"][0]["rule_id"] == "import.denied"
        syntax = error_of(await call(client, "session_execute", session_id=sid, code="x = ("))
        assert syntax["status"] == "syntax_error" and syntax["findings"]
        fixed = error_of(
            await call(client, "session_execute", session_id=sid, code="print(1)", limits={"memory_mb": 256})
        )
        assert fixed["status"] == "rejected" and "fixed when it opens" in fixed["message"]
        huge = error_of(await call(client, "session_execute", session_id=sid, code="#" * (cap + 1)))
        assert huge["status"] == "rejected" and str(cap) in huge["message"]
        bad_limits = error_of(
            await call(client, "session_execute", session_id=sid, code="print(1)", limits={"wall_time_s": "x"})
        )
        assert bad_limits["status"] == "rejected"
        pyc = error_of(
            await call(client, "session_files_write", session_id=sid, path="m.pyc", content="AA==", encoding="base64")
        )
        assert pyc["status"] == "validation_rejected" and pyc["findings"][0]["file"] == "m.pyc"
        helper = error_of(await call(client, "session_files_write", session_id=sid, path="h.py", content="import pty"))
        assert helper["status"] == "validation_rejected"
        base = error_of(
            await call(client, "session_files_write", session_id=sid, path="b.bin", content="!!", encoding="base64")
        )
        assert base["status"] == "rejected"
        path = error_of(await call(client, "session_files_write", session_id=sid, path="../x", content="x"))
        assert path["status"] == "rejected"
        missing = error_of(await call(client, "session_files_read", session_id=sid, path="nope.txt"))
        assert missing["status"] == "rejected" and "/workspace" not in missing["message"]
        for body in (unknown, denied, fixed, huge, pyc, base, path, missing):
            assert "Traceback" not in body["message"] and "sandbox/" not in body["message"]
        alive = await call(client, "session_execute", session_id=sid, code="print('alive')")
        assert alive.structured_content["stdout"] == "alive\n", "a refusal ended the session"
        assert not (await call(client, "session_close", session_id=sid)).is_error
        closed = error_of(await call(client, "session_close", session_id=sid))
        assert closed["status"] == "rejected"


async def test_another_key_cannot_use_a_session_over_mcp(live_server, tmp_path) -> None:
    owner, intruder = live_server.key("hostile-mcp-owner"), live_server.key("hostile-mcp-intruder")
    async with (
        connect("http", live_server, owner, tmp_path) as mine,
        connect("http", live_server, intruder, tmp_path) as theirs,
    ):
        sid = await open_session(mine)
        secret = base64.b64encode(b"s3cret").decode()
        await call(mine, "session_files_write", session_id=sid, path="s.txt", content=secret, encoding="base64")
        for tool, arguments in [
            ("session_execute", {"code": "print(open('s.txt').read())"}),
            ("session_files_read", {"path": "s.txt"}),
            ("session_files_write", {"path": "s.txt", "content": "overwritten"}),
            ("session_close", {}),
        ]:
            body = error_of(await theirs.call_tool(tool, {"session_id": sid, **arguments}))
            assert body["status"] == "rejected" and "s3cret" not in body["message"]
        read = await call(mine, "session_files_read", session_id=sid, path="s.txt")
        assert [(block.type, block.text) for block in read.content] == [("text", "s3cret")]
        assert not (await call(mine, "session_close", session_id=sid)).is_error


# ---------------------------------------------------------------------------------- the MCP session id
async def test_another_key_cannot_terminate_an_mcp_session(live_server) -> None:
    owner, intruder = live_server.key("hostile-mcp-sid-owner"), live_server.key("hostile-mcp-sid-intruder")
    async with connect_with_id(live_server, owner) as (client, session_id):
        async with httpx.AsyncClient(base_url=live_server.url) as raw:
            response = await raw.delete("/mcp", headers=raw_headers(intruder, session_id()))
        assert response.status_code in (401, 403, 404), response.status_code
        still = await asyncio.wait_for(call(client, "sandbox_info"), 10)
        assert not still.is_error


async def test_another_key_cannot_cancel_an_execution_through_the_mcp_session(live_server) -> None:
    owner, intruder = live_server.key("hostile-mcp-xcancel-owner"), live_server.key("hostile-mcp-xcancel-intruder")
    async with connect_with_id(live_server, owner) as (client, session_id):
        started = asyncio.Event()
        code = "import time\nprint('up', flush=True)\ntime.sleep(3)\nprint('done')"
        task = await started_call(client, "execute", {"code": code}, started)
        await asyncio.wait_for(started.wait(), 30)
        async with httpx.AsyncClient(base_url=live_server.url) as raw:
            for request_id in range(32):  # every id the owner's calls can have had by now
                notification = {
                    "jsonrpc": "2.0",
                    "method": "notifications/cancelled",
                    "params": {"requestId": request_id},
                }
                await raw.post("/mcp", json=notification, headers=raw_headers(intruder, session_id()))
        try:
            outcome = await asyncio.wait_for(task, 20)
        except (TimeoutError, MCPError) as exc:
            outcome = exc
    assert not isinstance(outcome, BaseException), f"another key's notification cancelled the call: {outcome!r}"
    assert not outcome.is_error and outcome.structured_content["stdout"] == "up\ndone\n"


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("execute", '{"code": "print(1)", "args": ["\\ud800"]}'),
        ("session_files_write", '{"session_id": "0", "path": "a.txt", "content": "\\ud800"}'),
    ],
    ids=["execute-args", "session_files_write-content"],
)
async def test_lone_surrogates_in_tool_arguments_are_client_errors(live_server, tool: str, arguments: str) -> None:
    key = live_server.key(f"hostile-mcp-surrogate-{tool}")
    async with connect_with_id(live_server, key) as (_, session_id):
        body = f'{{"jsonrpc": "2.0", "id": 901, "method": "tools/call", "params": {{"name": "{tool}", '
        body += f'"arguments": {arguments}}}}}'
        async with httpx.AsyncClient(base_url=live_server.url) as raw:
            response = await raw.post("/mcp", content=body.encode(), headers=raw_headers(key, session_id()))
    if response.status_code == 400:  # SDK 2.x refuses invalid Unicode when it parses the message
        assert response.json()["error"]["code"] == -32700, response.text
        return
    assert response.status_code == 200, response.text
    data = next(line[5:] for line in response.text.splitlines() if line.startswith("data:"))
    result = json.loads(data)["result"]
    assert result["isError"]
    assert json.loads(result["content"][0]["text"])["status"] != "internal_error", result


# -------------------------------------------------------------------------------------------- storms
async def test_a_storm_of_session_execute_calls_runs_each_once(live_server, tmp_path) -> None:
    key = live_server.key("hostile-mcp-storm")
    storm = 15
    async with connect("http", live_server, key, tmp_path) as client:
        sid = await open_session(client)
        await call(client, "session_execute", session_id=sid, code="seen = []")
        results = await asyncio.gather(
            *(call(client, "session_execute", session_id=sid, code=f"seen.append({i})") for i in range(storm))
        )
        assert all(not r.is_error and r.structured_content["status"] == "ok" for r in results)
        final = await call(client, "session_execute", session_id=sid, code="print(sorted(seen))")
        assert final.structured_content["stdout"] == f"{list(range(storm))}\n"
        with live_server.client(key) as rest:
            assert rest.get(f"/v1/sessions/{sid}").json()["executions"] == storm + 2
            listed = rest.get("/v1/executions", params={"limit": 100}).json()
            assert {r.structured_content["id"] for r in results} <= {i["id"] for i in listed["items"]}
        assert not (await call(client, "session_close", session_id=sid)).is_error


async def test_a_rate_limited_key_is_limited_over_mcp_sessions_too(live_server, tmp_path) -> None:
    key = live_server.key("hostile-mcp-rate", rate=3)
    async with connect("http", live_server, key, tmp_path) as client:
        sid = await open_session(client)
        results = [await call(client, "session_execute", session_id=sid, code="print(1)") for _ in range(4)]
        # Opening the session took the first of the three tokens.
        assert [r.is_error for r in results] == [False, False, True, True]
        assert error_of(results[-1])["status"] == "rejected" and "rate" in error_of(results[-1])["message"]
        assert not (await call(client, "session_close", session_id=sid)).is_error
