"""ASGI middleware that bounds request bodies before FastAPI parses them.

A body over the cap is refused with 413 as soon as its ``Content-Length`` says
so, or as soon as a chunked body passes the cap while streaming (D01, D02). A
JSON body nested deeper than ``max_depth`` is refused with 422 (D04). A JSON body
is parsed here, once: the nesting is measured on the parsed value (``json.loads``
is C, and bounded by the interpreter's recursion limit: a deeper text is a
``RecursionError``, measured by ``json_depth`` instead), and the value goes on in
the scope (``PARSED_JSON``) for ``ParsedBodyRoute`` to hand FastAPI, which would
otherwise parse the same bytes again. A body that is not valid JSON is measured by
``json_depth`` as before and left to FastAPI's own 422. A body still arriving ``timeout_s``
after its head is refused with 408, and when ``authenticate`` is given, a request
it refuses gets its answer (401) before any of its body is read: only key holders
can make the server wait for a slow body (D05, with the request-head deadline of
``sandbox.api.connections``). When ``bodies`` names the paths whose routes take a
body, a request to any other path goes on with its body unread (its answer, a 404
or 405, comes at once): it would otherwise be read, without a key, for up to
``timeout_s``, a request in progress all that while.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox.api.problems import error_response, problem
from sandbox.errors import PayloadTooLarge, SandboxError
from sandbox.models import ErrorBody, Status

#: The scope key of a JSON body's parsed value (set by ``BodyGuard``, read by ``ParsedRequest``).
PARSED_JSON = "sandbox.parsed_json"


class BodyGuard:
    """Refuses oversized or too deeply nested bodies with the same problem details as every error."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        max_depth: int,
        *,
        timeout_s: float | None = None,
        authenticate: Callable[[Scope], Awaitable[None]] | None = None,
        bodies: tuple[str, ...] | None = None,
        cap_reason: str = "",
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_depth = max_depth
        self.timeout_s = timeout_s
        self.authenticate = authenticate  # raises a SandboxError to refuse the request unread
        self.bodies = bodies  # path prefixes whose routes take a body (None: every path); elsewhere unread
        self.cap_reason = cap_reason  # what the cap is made of and which setting raises it: the 413 says so

    def _too_large(self, size: str) -> PayloadTooLarge:
        reason = f" ({self.cap_reason})" if self.cap_reason else ""
        return PayloadTooLarge(f"request body of {size} bytes is over the cap of {self.max_bytes} bytes{reason}")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "DELETE", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        if self.bodies is not None and not scope["path"].startswith(self.bodies):
            await self.app(scope, _unread(receive), send)  # no route here takes a body (module docstring)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            size = length.decode() if length.isdigit() and len(length) < 20 else "an unreadable number of"
            await error_response(self._too_large(size))(scope, receive, send)
            return
        if self.authenticate is not None:
            try:
                await self.authenticate(scope)
            except SandboxError as exc:
                await error_response(exc)(scope, receive, send)
                return
        body = bytearray()
        try:
            async with asyncio.timeout(self.timeout_s):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return
                    body += message.get("body", b"")
                    if len(body) > self.max_bytes:
                        await error_response(self._too_large(f"more than {self.max_bytes}"))(scope, receive, send)
                        return
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            detail = f"the request body took longer than {self.timeout_s:g} s to arrive"
            await problem(408, ErrorBody(code=Status.REJECTED, message=detail))(scope, receive, send)
            return
        if b"json" in headers.get(b"content-type", b"").lower():
            try:
                parsed = json.loads(body)
            except (ValueError, RecursionError):  # not JSON (FastAPI says why), or deeper than it can parse
                depth = json_depth(body)
            else:
                depth = value_depth(parsed)
                scope[PARSED_JSON] = parsed
            if depth > self.max_depth:
                detail = f"JSON nested {depth} levels deep; the limit is {self.max_depth}"
                await problem(422, ErrorBody(code=Status.REJECTED, message=detail))(scope, receive, send)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _unread(receive: Receive) -> Receive:
    """``receive``, whose first message is an empty body: the app answers without waiting for the real one."""
    given = False

    async def receiving() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": b"", "more_body": False}
        return await receive()

    return receiving


class ParsedRequest(Request):
    """A request whose JSON body ``BodyGuard`` has parsed already: ``json()`` is that value."""

    async def json(self) -> Any:
        if PARSED_JSON in self.scope:
            return self.scope[PARSED_JSON]
        return await super().json()


class ParsedBodyRoute(APIRoute):
    """FastAPI's route, reading a JSON body ``BodyGuard`` parsed (``route_class`` of the routers with bodies):
    what FastAPI validates is the same, parsed once."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def parsed_body_handler(request: Request) -> Response:
            return await handler(ParsedRequest(request.scope, request.receive))

        return parsed_body_handler


def value_depth(value: Any) -> int:
    """Deepest nesting of a parsed JSON value: what ``json_depth`` counts in its text."""
    deepest = 0
    stack = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        for item in node.values() if isinstance(node, dict) else node:
            if isinstance(item, dict | list):
                stack.append((item, depth + 1))
    return deepest


_KEEP = b'"\\[]{}'
_DROP = bytes(b for b in range(256) if b not in _KEEP)


def json_depth(data: bytes | bytearray) -> int:
    """Deepest bracket nesting outside strings (a linear scan, no parsing)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in bytes(data).translate(None, _DROP):  # only quotes, backslashes and brackets matter
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest
