"""Hostile MCP clients against the session tools (and the MCP transport) after the one-path refactor.

Over streamable HTTP with the SDK's own client (``connect`` from ``test_mcp``),
plus raw HTTP where a hostile client would not use the SDK. Tests marked
``xfail(strict=True)`` record a weakness found here: they assert the correct
behaviour and fail until it is fixed.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sqlite3
from contextlib import asynccontextmanager

import httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import McpError
from mcp.types import CancelledNotification, CancelledNotificationParams, ClientNotification

from tests.e2e.test_mcp import connect

pytestmark = pytest.mark.anyio
ERROR_KEYS = {"code", "message", "findings"}


async def call(session: ClientSession, tool: str, **arguments):
    return await session.call_tool(tool, arguments)


def error_of(result) -> dict:
    """The bare error object of a tool error."""
    assert result.isError, result
    body = json.loads(result.content[0].text)
    assert set(body) == ERROR_KEYS, body
    return body


async def open_session(session: ClientSession, **arguments) -> str:
    opened = await call(session, "session_create", **arguments)
    assert not opened.isError, opened
    return opened.structuredContent["id"]


async def cancel(session: ClientSession, task: asyncio.Task, request_id: int) -> None:
    """What a spec-following client does: stop waiting, then send notifications/cancelled."""
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    notification = CancelledNotification(params=CancelledNotificationParams(requestId=request_id, reason="test"))
    await session.send_notification(ClientNotification(notification))


async def started_call(session: ClientSession, tool: str, arguments: dict, started: asyncio.Event | None = None):
    """Start a tool call in a task; returns it with its JSON-RPC request id."""

    async def progress(value, total, message) -> None:
        if started is not None:
            started.set()

    task = asyncio.create_task(session.call_tool(tool, arguments, progress_callback=progress))
    await asyncio.sleep(0.2)  # the request is sent: its id is taken
    return task, session._request_id - 1  # no public accessor for the id of a call in flight


@asynccontextmanager
async def connect_with_id(live_server, key: str):
    """An SDK session over HTTP, and a function returning its Mcp-Session-Id."""
    headers = {"Authorization": f"Bearer {key}"}
    async with (
        httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(60, read=300)) as http,
        streamable_http_client(f"{live_server.url}/mcp", http_client=http) as (read, write, session_id),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session, session_id


def raw_headers(key: str, mcp_session_id: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {key}",
        "Mcp-Session-Id": mcp_session_id,
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "MCP-Protocol-Version": "2025-06-18",
    }


# ---------------------------------------------------------------------------------------- cancellation
async def test_cancelling_a_running_cell_kills_it_ends_the_session_and_frees_the_slot(live_server, tmp_path) -> None:
    key = live_server.key("hostile-mcp-cancel-running", concurrency=1)
    async with connect("http", live_server, key, tmp_path) as session:
        sid = await open_session(session)
        started = asyncio.Event()
        code = "import time\nprint('up', flush=True)\ntime.sleep(40)"
        arguments = {"session_id": sid, "code": code, "limits": {"wall_time_s": 50}}
        task, request_id = await started_call(session, "session_execute", arguments, started)
        await asyncio.wait_for(started.wait(), 30)
        await cancel(session, task, request_id)
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
        again = await asyncio.wait_for(call(session, "execute", code="print('again')"), 30)
        assert not again.isError and again.structuredContent["stdout"] == "again\n"


async def test_cancelling_a_queued_cell_leaves_the_session_and_the_running_cell_alone(live_server, tmp_path) -> None:
    key = live_server.key("hostile-mcp-cancel-queued")
    async with connect("http", live_server, key, tmp_path) as session:
        sid = await open_session(session)
        assert not (await call(session, "session_execute", session_id=sid, code="n = 1")).isError
        started = asyncio.Event()
        first_code = "import time\nprint('up', flush=True)\ntime.sleep(2)\nn += 1\nprint(n)"
        first, _ = await started_call(session, "session_execute", {"session_id": sid, "code": first_code}, started)
        await asyncio.wait_for(started.wait(), 30)
        queued, queued_id = await started_call(session, "session_execute", {"session_id": sid, "code": "n += 100"})
        await cancel(session, queued, queued_id)
        done = await asyncio.wait_for(first, 30)
        assert not done.isError and done.structuredContent["status"] == "ok"
        assert done.structuredContent["stdout"] == "up\n2\n"
        after = await call(session, "session_execute", session_id=sid, code="print(n)")
        assert after.structuredContent["stdout"] == "2\n", "the cancelled cell ran anyway"
        with live_server.client(key) as rest:
            statuses = sorted(i["status"] for i in rest.get("/v1/executions").json()["items"] if i["session_id"] == sid)
            assert statuses == ["killed", "ok", "ok", "ok"]
            assert rest.get(f"/v1/sessions/{sid}").json()["state"] == "open"
        assert not (await call(session, "session_close", session_id=sid)).isError


async def test_cancelling_session_create_leaks_no_session(live_server, tmp_path, docker_client) -> None:
    """At 4e5f8ac a session_create cancelled while its record was written left an open session nobody knew
    the id of, holding one of the key's session slots and a container until its idle TTL."""
    key = live_server.key("hostile-mcp-cancel-create")
    owner = live_server.settings.owner
    async with connect("http", live_server, key, tmp_path) as session:
        # Another writer holds the database (WAL: reads go on): the session's record write waits (busy_timeout 5 s).
        lock = sqlite3.connect(live_server.settings.state_dir / "sandbox.db", isolation_level=None, timeout=5)
        try:
            lock.execute("BEGIN IMMEDIATE")
            task, request_id = await started_call(session, "session_create", {"idle_ttl_s": 600})
            await asyncio.sleep(3)  # the container is made (~1 s); the record write is waiting for the lock
            await cancel(session, task, request_id)
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
    async with connect("http", live_server, key, tmp_path) as session:
        sid = await open_session(session)
        started = asyncio.Event()
        ending_code = "import time\nprint('up', flush=True)\ntime.sleep(30)"
        ending, _ = await started_call(
            session, "session_execute", {"session_id": sid, "code": ending_code, "limits": {"wall_time_s": 2}}, started
        )
        await asyncio.wait_for(started.wait(), 30)
        queued = [asyncio.create_task(call(session, "session_execute", session_id=sid, code="print(1)")) for _ in "ab"]
        assert (await ending).structuredContent["status"] == "timeout"
        for result in await asyncio.gather(*queued):
            if result.isError:
                assert error_of(result)["code"] != "internal_error", result
            else:
                assert result.structuredContent["status"] != "internal_error", result.structuredContent


# ------------------------------------------------------------------------------------------ tool errors
async def test_session_tool_errors_are_the_bare_error_object(live_server, tmp_path) -> None:
    key = live_server.key("hostile-mcp-errors")
    cap = live_server.settings.request_bytes
    async with connect("http", live_server, key, tmp_path) as session:
        sid = await open_session(session, limits={"memory_mb": 128})
        unknown = error_of(await call(session, "session_execute", session_id="0" * 32, code="print(1)"))
        assert unknown["code"] == "rejected" and unknown["findings"] == []
        denied = error_of(await call(session, "session_execute", session_id=sid, code="import subprocess"))
        assert denied["code"] == "validation_rejected" and denied["findings"][0]["rule_id"] == "import.denied"
        syntax = error_of(await call(session, "session_execute", session_id=sid, code="x = ("))
        assert syntax["code"] == "syntax_error" and syntax["findings"]
        fixed = error_of(
            await call(session, "session_execute", session_id=sid, code="print(1)", limits={"memory_mb": 256})
        )
        assert fixed["code"] == "rejected" and "fixed when it opens" in fixed["message"]
        huge = error_of(await call(session, "session_execute", session_id=sid, code="#" * (cap + 1)))
        assert huge["code"] == "rejected" and str(cap) in huge["message"]
        bad_limits = error_of(
            await call(session, "session_execute", session_id=sid, code="print(1)", limits={"wall_time_s": "x"})
        )
        assert bad_limits["code"] == "rejected"
        pyc = error_of(
            await call(session, "session_files_write", session_id=sid, path="m.pyc", content="AA==", encoding="base64")
        )
        assert pyc["code"] == "validation_rejected" and pyc["findings"][0]["file"] == "m.pyc"
        helper = error_of(await call(session, "session_files_write", session_id=sid, path="h.py", content="import pty"))
        assert helper["code"] == "validation_rejected"
        base = error_of(
            await call(session, "session_files_write", session_id=sid, path="b.bin", content="!!", encoding="base64")
        )
        assert base["code"] == "rejected"
        path = error_of(await call(session, "session_files_write", session_id=sid, path="../x", content="x"))
        assert path["code"] == "rejected"
        missing = error_of(await call(session, "session_files_read", session_id=sid, path="nope.txt"))
        assert missing["code"] == "rejected" and "/workspace" not in missing["message"]
        for body in (unknown, denied, fixed, huge, pyc, base, path, missing):
            assert "Traceback" not in body["message"] and "sandbox/" not in body["message"]
        alive = await call(session, "session_execute", session_id=sid, code="print('alive')")
        assert alive.structuredContent["stdout"] == "alive\n", "a refusal ended the session"
        assert not (await call(session, "session_close", session_id=sid)).isError
        closed = error_of(await call(session, "session_close", session_id=sid))
        assert closed["code"] == "rejected"


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
            assert body["code"] == "rejected" and "s3cret" not in body["message"]
        read = await call(mine, "session_files_read", session_id=sid, path="s.txt")
        assert read.structuredContent["content"] == "s3cret"
        assert not (await call(mine, "session_close", session_id=sid)).isError


# ---------------------------------------------------------------------------------- the MCP session id
async def test_another_key_cannot_terminate_an_mcp_session(live_server) -> None:
    owner, intruder = live_server.key("hostile-mcp-sid-owner"), live_server.key("hostile-mcp-sid-intruder")
    async with connect_with_id(live_server, owner) as (session, session_id):
        async with httpx.AsyncClient(base_url=live_server.url) as raw:
            response = await raw.delete("/mcp", headers=raw_headers(intruder, session_id()))
        assert response.status_code in (401, 403, 404), response.status_code
        still = await asyncio.wait_for(call(session, "sandbox_info"), 10)
        assert not still.isError


async def test_another_key_cannot_cancel_an_execution_through_the_mcp_session(live_server) -> None:
    owner, intruder = live_server.key("hostile-mcp-xcancel-owner"), live_server.key("hostile-mcp-xcancel-intruder")
    async with connect_with_id(live_server, owner) as (session, session_id):
        started = asyncio.Event()
        code = "import time\nprint('up', flush=True)\ntime.sleep(3)\nprint('done')"
        task, request_id = await started_call(session, "execute", {"code": code}, started)
        await asyncio.wait_for(started.wait(), 30)
        notification = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": request_id}}
        async with httpx.AsyncClient(base_url=live_server.url) as raw:
            await raw.post("/mcp", json=notification, headers=raw_headers(intruder, session_id()))
        try:
            outcome = await asyncio.wait_for(task, 20)
        except (TimeoutError, McpError) as exc:
            outcome = exc
    assert not isinstance(outcome, BaseException), f"another key's notification cancelled the call: {outcome!r}"
    assert not outcome.isError and outcome.structuredContent["stdout"] == "up\ndone\n"


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
    assert response.status_code == 200, response.text
    data = next(line[5:] for line in response.text.splitlines() if line.startswith("data:"))
    result = json.loads(data)["result"]
    assert result["isError"]
    assert json.loads(result["content"][0]["text"])["code"] != "internal_error", result


# -------------------------------------------------------------------------------------------- storms
async def test_a_storm_of_session_execute_calls_runs_each_once(live_server, tmp_path) -> None:
    key = live_server.key("hostile-mcp-storm")
    storm = 15
    async with connect("http", live_server, key, tmp_path) as session:
        sid = await open_session(session)
        await call(session, "session_execute", session_id=sid, code="seen = []")
        results = await asyncio.gather(
            *(call(session, "session_execute", session_id=sid, code=f"seen.append({i})") for i in range(storm))
        )
        assert all(not r.isError and r.structuredContent["status"] == "ok" for r in results)
        final = await call(session, "session_execute", session_id=sid, code="print(sorted(seen))")
        assert final.structuredContent["stdout"] == f"{list(range(storm))}\n"
        with live_server.client(key) as rest:
            assert rest.get(f"/v1/sessions/{sid}").json()["executions"] == storm + 2
            listed = rest.get("/v1/executions", params={"limit": 100}).json()
            assert {r.structuredContent["id"] for r in results} <= {i["id"] for i in listed["items"]}
        assert not (await call(session, "session_close", session_id=sid)).isError


async def test_a_rate_limited_key_is_limited_over_mcp_sessions_too(live_server, tmp_path) -> None:
    key = live_server.key("hostile-mcp-rate", rate=3)
    async with connect("http", live_server, key, tmp_path) as session:
        sid = await open_session(session)
        results = [await call(session, "session_execute", session_id=sid, code="print(1)") for _ in range(4)]
        # Opening the session took the first of the three tokens.
        assert [r.isError for r in results] == [False, False, True, True]
        assert error_of(results[-1])["code"] == "rejected" and "rate" in error_of(results[-1])["message"]
        assert not (await call(session, "session_close", session_id=sid)).isError
