"""A 1.x-era MCP client, run by the tests with the `mcp` 1.x SDK of `.venv-mcp1` (not the package's 2.x).

    .venv-mcp1/bin/python tests/e2e/mcp1_client.py http URL KEY
    .venv-mcp1/bin/python tests/e2e/mcp1_client.py stdio COMMAND [ARG...]   (the environment is passed on)

It does what an agent host built on SDK 1.x does: initialize, list the tools, call
``execute`` (with a progress callback), call it with code validation refuses, and
prints one JSON object with what it saw on stdout. It imports nothing of ours.
"""

import asyncio
import json
import os
import sys
from contextlib import AsyncExitStack
from importlib.metadata import version
from typing import Any

import httpx
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

CODE = "import sys\nprint('hello from 1.x', flush=True)\nprint('warn', file=sys.stderr)"


def result_of(result: Any) -> dict[str, Any]:
    return {
        "is_error": result.isError,
        "content": [block.model_dump(mode="json", exclude_none=True) for block in result.content],
        "structured": result.structuredContent,
    }


def hints(tool: Any) -> dict[str, Any] | None:
    return tool.annotations.model_dump(exclude_none=True) if tool.annotations else None


async def session_of(stack: AsyncExitStack, transport: str, target: list[str]) -> ClientSession:
    if transport == "http":
        url, key = target
        http = await stack.enter_async_context(
            httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=httpx.Timeout(60, read=300))
        )
        read, write, _ = await stack.enter_async_context(streamable_http_client(url, http_client=http))
    else:
        params = StdioServerParameters(command=target[0], args=target[1:], env=dict(os.environ))
        read, write = await stack.enter_async_context(stdio_client(params))
    return await stack.enter_async_context(ClientSession(read, write))


async def main(transport: str, target: list[str]) -> dict[str, Any]:
    progress: list[str] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(message or "")

    async with AsyncExitStack() as stack:
        session = await session_of(stack, transport, target)
        hello = await session.initialize()
        tools = (await session.list_tools()).tools
        executed = await session.call_tool("execute", {"code": CODE}, progress_callback=on_progress)
        refused = await session.call_tool("execute", {"code": "import subprocess"})
        return {
            "sdk": version("mcp"),
            "protocol_version": hello.protocolVersion,
            "server_info": hello.serverInfo.model_dump(mode="json", exclude_none=True),
            "tools": {tool.name: hints(tool) for tool in tools},
            "execute": result_of(executed),
            "refused": result_of(refused),
            "progress": progress,
        }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], sys.argv[2:]))))
