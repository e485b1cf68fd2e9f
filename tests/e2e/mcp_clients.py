"""MCP clients for the end-to-end tests: the SDK 2.x ``Client`` (either protocol era, HTTP or stdio) and a
real SDK 1.x client (``mcp1_client.py`` run by ``.venv-mcp1``, which ``scripts/install`` creates).

``connect`` yields a 2.x ``Client``: ``era="modern"`` lands on 2026-07-28 (``server/discover``, no
session), ``era="legacy"`` runs the ``initialize`` handshake (2025-11-25) as a pre-2026 client does.
Over stdio the server's stderr goes to ``<tmp_path>/stdio-server.log``, for tests that read its log.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from tests.docker_fixtures import SESSION_OWNER

ROOT = Path(__file__).resolve().parents[2]
MCP1_PYTHON = ROOT / ".venv-mcp1" / "bin" / "python"
MCP1_CLIENT = Path(__file__).with_name("mcp1_client.py")
STDIO_OWNER = f"{SESSION_OWNER}-mcp-stdio"


def stdio_params(tmp_path: Path, owner: str = STDIO_OWNER) -> StdioServerParameters:
    """`sandbox mcp` as the agent starts it, with its own state and container owner."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SANDBOX_")},
        "SANDBOX_STATE_DIR": str(tmp_path / "stdio-state"),
        "SANDBOX_POOL_SIZE": "1",
        "SANDBOX_VALIDATION_WORKERS": "0",
        "SANDBOX_OWNER": owner,
    }
    env.update({k: v for k, v in os.environ.items() if k in ("SANDBOX_IMAGE_PREFIX", "SANDBOX_RUNTIME")})
    return StdioServerParameters(command=sys.executable, args=["-m", "sandbox.cli", "mcp"], env=env, cwd=ROOT)


@asynccontextmanager
async def connect(
    transport: str, live_server: Any, key: str, tmp_path: Path, era: str = "modern", **options: Any
) -> AsyncIterator[Client]:
    """A connected SDK 2.x client of the live server (``http``) or of a `sandbox mcp` child (``stdio``)."""
    mode = "legacy" if era == "legacy" else "auto"
    if transport == "http":
        headers = {"Authorization": f"Bearer {key}"}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(60, read=300), **options) as http,
            Client(streamable_http_client(f"{live_server.url}/mcp", http_client=http), mode=mode) as client,
        ):
            yield client
    else:
        with (tmp_path / "stdio-server.log").open("a") as errlog:
            async with Client(stdio_client(stdio_params(tmp_path), errlog=errlog), mode=mode) as client:
                yield client


@contextmanager
def warnings_logged() -> Iterator[list[logging.LogRecord]]:
    """Every WARNING-or-worse record logged in this process meanwhile (the live server runs in a thread here)."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(logging.WARNING)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield records
    finally:
        root.removeHandler(handler)


def mcp1_client(*target: str, env: dict[str, str] | None = None, timeout: float = 180) -> dict[str, Any]:
    """Run the 1.x client against ``target`` (``http URL KEY`` or ``stdio COMMAND ...``); what it saw."""
    if not MCP1_PYTHON.exists():
        pytest.fail(
            f"{MCP1_PYTHON} is missing: the 1.x-client tests need the side virtualenv with `mcp>=1.20,<2` "
            "that ./scripts/install creates (run it)"
        )
    done = subprocess.run(
        [str(MCP1_PYTHON), str(MCP1_CLIENT), *target],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
    )
    assert done.returncode == 0, f"the 1.x client failed ({done.returncode}):\n{done.stderr[-4000:]}"
    found: dict[str, Any] = json.loads(done.stdout)
    found["stderr"] = done.stderr
    return found
