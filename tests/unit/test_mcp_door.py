"""The MCP door on a FakeBackend through the SDK's in-memory client: one error object, one place."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from sandbox.config import Settings
from sandbox.engine import FakeBackend, RunOutcome, RunSpec
from sandbox.errors import DockerUnavailable, PoolExhausted
from sandbox.executions import ExecutionManager
from sandbox.mcp import Door, build_mcp, local_key
from sandbox.models import Status
from sandbox.service import build_service
from sandbox.sessions import SessionManager
from sandbox.store import Store

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def connected(tmp_path: Path, handler: Callable[[RunSpec], RunOutcome]) -> AsyncIterator[Any]:
    settings = Settings(state_dir=tmp_path, validation_workers=0, pool_size=0)
    store = Store(settings.database)
    service = build_service(settings, store=store, backend=FakeBackend(handler))
    async with service:
        executions = ExecutionManager(service)
        sessions = SessionManager(service, executions)
        key = local_key(store, "standard", 8, 1000)
        door = Door(service, store, executions, sessions, stdio_key=key)
        server = build_mcp(lambda: door, settings)
        async with Client(server) as client:
            yield client
        await executions.aclose()
        await sessions.aclose()
    store.close()


def body(result: Any) -> dict[str, Any]:
    assert result.is_error
    assert len(result.content) == 1
    text = result.content[0].text
    parsed: dict[str, Any] = json.loads(text)  # the error object alone: no "Error executing tool" prefix
    assert set(parsed) == {"status", "message", "findings"}
    assert result.structured_content == parsed
    return parsed


async def test_capacity_after_admission_is_a_tool_error(tmp_path: Path) -> None:
    def busy(spec: RunSpec) -> RunOutcome:
        raise PoolExhausted("all 16 execution slots stayed busy for 30 s; retry later")

    async with connected(tmp_path, busy) as client:
        error = body(await client.call_tool("execute", {"code": "print(1)"}))
        assert error["status"] == "capacity_unavailable" and "retry later" in str(error["message"])


async def test_an_unexpected_failure_is_internal_error_with_nothing_more(tmp_path: Path) -> None:
    def broken(spec: RunSpec) -> RunOutcome:
        raise RuntimeError("boom at /srv/secret")

    async with connected(tmp_path, broken) as client:
        result = await client.call_tool("execute", {"code": "print(1)"})
        # A failure inside the run is the execution's result (internal_error), never its details.
        assert not result.is_error and result.structured_content["status"] == "internal_error"
        assert "/srv/secret" not in json.dumps(result.structured_content)
        refused = body(await client.call_tool("execute", {"code": "import subprocess"}))
        assert refused["status"] == "validation_rejected" and refused["findings"]


async def test_bad_arguments_and_unknown_tools_are_rejected_error_objects(tmp_path: Path) -> None:
    async with connected(tmp_path, lambda spec: RunOutcome(status=Status.OK, exit_code=0)) as client:
        bad = body(await client.call_tool("execute", {"code": "print(1)", "limits": {"wall_time_s": -1}}))
        assert bad["status"] == "rejected" and "wall_time_s" in str(bad["message"])
        unknown = body(await client.call_tool("no_such_tool", {}))
        assert unknown["status"] == "rejected"


async def test_an_open_breaker_is_a_fast_tool_error(tmp_path: Path) -> None:
    def down(spec: RunSpec) -> RunOutcome:
        raise DockerUnavailable("create a cold container: the Docker engine does not answer")

    async with connected(tmp_path, down) as client:
        for _ in range(5):  # the default threshold
            error = body(await client.call_tool("execute", {"code": "print(1)"}))
            assert error["status"] == "capacity_unavailable" and "does not answer" in str(error["message"])
        started = time.perf_counter()
        error = body(await client.call_tool("execute", {"code": "print(1)"}))
        assert time.perf_counter() - started < 0.1
        assert error["status"] == "capacity_unavailable" and "circuit breaker open" in str(error["message"])
