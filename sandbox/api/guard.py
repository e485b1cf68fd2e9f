"""ASGI middleware that bounds request bodies before FastAPI parses them.

A body over the cap is refused with 413 as soon as its ``Content-Length`` says
so, or as soon as a chunked body passes the cap while streaming (D01, D02). A
JSON body nested deeper than ``max_depth`` is refused with 422 before
``json.loads`` could recurse on it (D04).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox.models import Status

PROBLEM = "application/problem+json"


class BodyGuard:
    def __init__(self, app: ASGIApp, max_bytes: int, max_depth: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "DELETE", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await _reject(send, 413, f"request body over the cap of {self.max_bytes} bytes")
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await _reject(send, 413, f"request body over the cap of {self.max_bytes} bytes")
                return
            if not message.get("more_body", False):
                break
        is_json = b"json" in headers.get(b"content-type", b"").lower()
        depth = json_depth(body) if is_json else 0
        if depth > self.max_depth:
            await _reject(send, 422, f"JSON nested {depth} levels deep; the limit is {self.max_depth}")
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


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


async def _reject(send: Send, status: int, detail: str) -> None:
    body: dict[str, Any] = {
        "type": f"urn:sandbox:problem:{Status.REJECTED.value}",
        "title": "Payload too large" if status == 413 else "Unprocessable request",
        "status": status,
        "detail": detail,
        "code": Status.REJECTED.value,
    }
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", PROBLEM.encode()), (b"content-length", str(len(payload)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": payload})
