"""The ``/mcp`` endpoint: streamable HTTP behind the same Bearer keys as REST.

Both protocol eras come through this one endpoint; the SDK routes each request
by its ``MCP-Protocol-Version`` header. A 2026-07-28 request stands alone (no
session); a 2025-era client opens a session with ``initialize`` and names it in
``Mcp-Session-Id`` afterwards. Such a session belongs to the key that opened it:
a request of another key naming it is refused, so nobody can end or cancel
someone else's calls by learning the id.
"""

import logging
from collections import OrderedDict
from collections.abc import Callable

import anyio
from mcp.server import MCPServer
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox.errors import CapacityUnavailable, NotFound, SandboxError, error_body
from sandbox.keycache import bearer_token, live_key
from sandbox.store import Store

log = logging.getLogger(__name__)


class McpAuth:
    """ASGI wrapper of the SDK's streamable HTTP app: a live key first, then the session's owner."""

    MAX_SESSIONS = 10_000  # owners remembered; the oldest are forgotten first

    def __init__(self, app: ASGIApp, store: Callable[[], Store]) -> None:
        self.app = app
        self.store = store
        self._owners: OrderedDict[str, str] = OrderedDict()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers") or [])
        try:  # the REST routes' check and cache (a revocation takes effect within a second)
            key = await live_key(self.store(), bearer_token(scope["headers"]), str(scope.get("path", "/mcp")))
        except SandboxError as exc:  # 401 (no key, or not a live one), or the database unreachable: 503, never a 500
            await _refuse(send, exc.http_status, exc)
            return
        named = headers.get(b"mcp-session-id")
        if named is not None and self._owners.get(named.decode("latin-1"), key.id) != key.id:
            await _refuse(send, 404, NotFound("no MCP session with this id for this key"))
            return

        started = completed = False

        async def remember_owner(message: Message) -> None:
            nonlocal started, completed
            if completed:
                # The SDK answering a second time: a notification got its 202, then handing it to a
                # session that had just ended failed, and the SDK sends a 500 after the 202. The
                # server would raise "response already completed"; nobody can receive it anyway.
                log.debug("dropped an MCP answer's %s sent after its answer was complete", message["type"])
                return
            if message["type"] == "http.response.start":
                started = True
                for name, value in message.get("headers") or []:
                    if name.lower() == b"mcp-session-id":
                        self._owners.setdefault(value.decode("latin-1"), key.id)
                        while len(self._owners) > self.MAX_SESSIONS:
                            self._owners.popitem(last=False)
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                completed = True

        scope["sandbox_key"] = key
        try:
            await self.app(scope, receive, remember_owner)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            # The session ended (its DELETE, say) while this request was being handed to it: SDK 2.x
            # raises out of the request, as a 2.x client's courtesy `notifications/cancelled` racing
            # its own DELETE shows. Nobody waits for the answer; it is no failure of ours.
            log.debug("an MCP request reached its session after the session ended")
            if not started:
                await _refuse(send, 404, NotFound("the MCP session ended"))


async def _refuse(send: Send, status: int, error: SandboxError) -> None:
    headers = [(b"content-type", b"application/json")]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    if isinstance(error, CapacityUnavailable):
        headers.append((b"retry-after", str(error.retry_after_s).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": error_body(error).model_dump_json().encode()})


def http_endpoint(server: MCPServer, store: Callable[[], Store], max_body_bytes: int) -> McpAuth:
    """The authenticated ASGI endpoint for ``/mcp``; the host must run ``server.session_manager.run()``.

    ``max_body_bytes``: the server's own body cap (the SDK's default, 4 MiB, is lower than a
    request with files may need; the body guard in front of the app enforces ours).
    """
    # Creates the session manager; its Starlette app is not used (our route is already /mcp).
    server.streamable_http_app(streamable_http_path="/mcp", max_request_body_size=max_body_bytes)
    return McpAuth(StreamableHTTPASGIApp(server.session_manager), store)
