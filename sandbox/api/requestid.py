"""Request ids (and, with tracing on, the request's span): bound to every log line of a request.

``RequestContext`` is a pure ASGI middleware, the outermost layer of the app
(outside even starlette's error middleware, so a 500 carries the header too).
It takes the client's ``X-Request-Id`` when it is sane (1 to 128 characters of
``A-Z a-z 0-9 - _ . :``), otherwise makes one (32 hex digits), binds it for
the request's log lines and answers it in ``X-Request-Id``. With tracing on it
also opens the request's server span (child of a valid incoming W3C
``traceparent``) and answers its trace id in ``X-Trace-Id``.

The id stays bound after the app returns: uvicorn logs an unhandled error after
that, in the same task (one task per request), and the line should say whose it
was. An ``Origin`` left in the scope lets work running in another task (an MCP
tool call) pick both up.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox.observability import bind, tracing
from sandbox.observability.origin import SCOPE_KEY, Origin

REQUEST_ID = b"x-request-id"
TRACE_ID = b"x-trace-id"
_SANE = re.compile(rb"[A-Za-z0-9._:\-]{1,128}")


def request_id_of(value: bytes | None) -> str:
    """The client's id if it is sane, a new one otherwise."""
    if value is not None and _SANE.fullmatch(value):
        return value.decode("ascii")
    return uuid.uuid4().hex


class RequestContext:
    """Binds a request id (and opens a span when tracing is on) for each HTTP request.

    ``routes`` (the app's own list) name a request's span after its route template when
    the router did not say which route it took (FastAPI says so only for its own routes).
    """

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute] = ()) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = traceparent = None
        for name, value in scope["headers"]:
            if name == REQUEST_ID:
                given = value
            elif name == b"traceparent":
                traceparent = value
        request_id = request_id_of(given)
        # Bound for the request (the key's name joins it once auth resolves it), then unbound: in a
        # server each request has its own task, but an in-process client shares the caller's.
        with bind(request_id=request_id):
            await self._call(scope, receive, send, request_id, traceparent)

    async def _call(
        self, scope: Scope, receive: Receive, send: Send, request_id: str, traceparent: bytes | None
    ) -> None:
        header = request_id.encode()
        started = tracing.start_request(scope["method"], traceparent.decode("latin-1") if traceparent else None)
        if started is None:
            scope[SCOPE_KEY] = Origin(request_id)

            async def send_with_id(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [*message.get("headers", ()), (REQUEST_ID, header)]
                await send(message)

            await self.app(scope, receive, send_with_id)
            return

        span, context, token = started
        scope[SCOPE_KEY] = Origin(request_id, context)
        found = tracing.ids(span)
        extra = [(REQUEST_ID, header)] + ([(TRACE_ID, found[0].encode())] if found else [])
        status = 500  # what the client gets if the app raises before it answers

        async def send_with_ids(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        try:
            await self.app(scope, receive, send_with_ids)
        finally:
            tracing.end_request(span, scope["method"], self._template(scope), status, token)

    def _template(self, scope: Scope) -> str | None:
        route = scope.get("route")
        if route is None:
            route = next((r for r in self.routes if r.matches(scope)[0] is Match.FULL), None)
        path = getattr(route, "path", None)
        return path if isinstance(path, str) and path else None
