"""The REST app's side of the metrics: HTTP figures per route, and ``GET /metrics``.

``HttpMetrics`` is a pure ASGI middleware (no ``BaseHTTPMiddleware``: no extra
task or body copy per request, a few microseconds in all). It labels a request
with the *template* of the route that matched (``/v1/executions/{execution_id}``),
never the raw path, so a client cannot grow the label set: a path no route
matches is ``unmatched``.

``/metrics`` answers the exposition text. Who may scrape is ``metrics_access``:
``loopback`` (the default) lets loopback clients in without a key and asks
anyone else for an API key; ``key`` always asks for one; ``open`` never does.
A missing or bad key is the usual 401 problem. Behind a reverse proxy on the
same host every client looks like loopback: use ``key`` there.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Sequence

from fastapi import APIRouter, Request, Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox.api.auth import current_key
from sandbox.observability import exposition, metrics

#: The route label of a request no route matched (any path: one value, whatever the client sends).
UNMATCHED = "unmatched"

router = APIRouter()


class HttpMetrics:
    """Counts and times every HTTP request by method, route template and status code."""

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.routes = routes  # the app's own list: routes added after start-up are seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        code = 500  # what the server answers if the app raises before it starts a response

        async def send_and_note(message: Message) -> None:
            nonlocal code
            if message["type"] == "http.response.start":
                code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            metrics.http_request(scope["method"], self._template(scope), code, time.perf_counter() - started)

    def _template(self, scope: Scope) -> str:
        # The router puts the route it chose in the scope; a request answered before
        # routing (a body over the cap) is matched here, only then.
        route = scope.get("route")
        if route is None:
            route = next((r for r in self.routes if r.matches(scope)[0] is not Match.NONE), None)
        path = getattr(route, "path", None)
        return path if isinstance(path, str) and path else UNMATCHED


@router.get("/metrics", include_in_schema=False)
async def scrape(request: Request) -> Response:
    """The metrics in Prometheus's text format, to whoever ``metrics_access`` lets in."""
    access: str = request.app.state.service.settings.metrics_access
    if access == "key" or (access == "loopback" and not _loopback(request)):
        await current_key(request)  # raises Unauthenticated: the 401 problem
    exposition.refresh()
    body = await asyncio.to_thread(exposition.render)
    return Response(body, media_type=exposition.CONTENT_TYPE)


def _loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # a Unix socket or a test client: not known to be loopback
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 (a dual-stack listener)
    return address.is_loopback
