"""The MCP door: ``execute`` and friends for agents, over stdio and streamable HTTP.

Built with the official SDK 2.x (``MCPServer``). One module per job:
``server`` builds the server and its tools, ``schema`` their input schemas and
hints, ``content`` turns results and errors into MCP content, ``door`` finds the
managers and the caller, ``http`` guards the ``/mcp`` endpoint with API keys.
Over HTTP the tools run as the API key of the request; over stdio, as the local
key named ``mcp-stdio``.
"""

from sandbox.mcp.door import Door, local_key
from sandbox.mcp.http import McpAuth, http_endpoint
from sandbox.mcp.server import SandboxMCP, build_mcp

__all__ = ["Door", "McpAuth", "SandboxMCP", "build_mcp", "http_endpoint", "local_key"]
