"""uvicorn's httptools protocol with the connection guard (``sandbox.api.connections``): the default.

httptools (llhttp, in C) parses a request ~0.3 ms faster than h11 on this path; the guard is the
same object both protocols use, fed from httptools' parser callbacks: a head is complete at
``on_headers_complete``, its body read at ``on_message_complete``. Apart from ``httptools`` this
module needs nothing, and nothing imports it but uvicorn (through ``PROTOCOLS``): a platform
without the C extension runs ``SANDBOX_HTTP_PROTOCOL=h11``.

llhttp puts no cap on a head (it buffers a header line of any length), so the cap of
``MAX_HEAD_BYTES`` is counted here twice over: the sizes of the request line and headers the
parser hands over (exact), and the bytes received while it is still inside one head, after the
read in which that head began (a header line still arriving: what llhttp buffers stays under one
read plus the cap). Past it: 431 and close.

A request asking to switch protocols (``Upgrade``, or ``CONNECT``) ends, for llhttp, at its head:
the parser neither reads its body nor knows where it ends, and goes on parsing what follows as the
next request. The server switches to no protocol, so a body sent with such a request would be taken
for requests (smuggled past a proxy that framed it as a body). Such a request's answer says close,
and nothing the connection carries after its head is parsed: it is dropped, then the close lingers.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from sandbox.api.connections import MAX_HEAD_BYTES, ConnectionGuard, LingeringTransport

_TOO_LARGE = b"request head over %d bytes" % MAX_HEAD_BYTES
HEAD_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(_TOO_LARGE), _TOO_LARGE)
)


class HeadTooLarge(Exception):
    """Raised from a parser callback to stop parsing a head over the cap (uvicorn answers via
    ``send_400_response``, which says 431 instead)."""


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the ``ConnectionGuard`` and a cap on the head."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.guard = ConnectionGuard(app_state, server_state, self.loop)
        self.limit_concurrency = None  # uvicorn's counts connections; the guard's counts requests
        self.app = self.guard.limited(self.app, self.logger, self.body_unread)
        self.in_head = False  # the parser is inside a request's head
        self.in_body = False  # ... inside its body (the head is complete, the message is not)
        self.head_size = 0  # the request line and headers of the current head, as parsed
        self.head_bytes = 0  # bytes received inside the current head, after the read that began it
        self.heads = 0  # heads begun on this connection
        self.head_too_large = False
        self.unframed = False  # a protocol switch was asked for and not made: what follows its head is unparsed

    def body_unread(self) -> bool:
        """The request being answered has a body not yet all received: the parser's current request,
        when none is queued behind the one being answered (pipelining); or what followed the head of a
        protocol switch not made (module docstring)."""
        return (self.in_body or self.unframed) and not self.pipeline

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(LingeringTransport.wrap(transport, self.guard, self.body_unread))
        self.guard.admit(transport, self.client, len(self.connections))

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard.release()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.guard.dropped(data) or self.unframed:
            return
        self.guard.heard()
        in_head, heads = self.in_head, self.heads
        super().data_received(data)
        if in_head and self.in_head and heads == self.heads:  # the same head, still incomplete
            self.head_bytes += len(data)
            if self.head_bytes > MAX_HEAD_BYTES and not self.transport.is_closing():
                self.head_too_large = True
                self.send_400_response("")

    def send_400_response(self, msg: str) -> None:
        if not self.head_too_large:
            # The parser failed: no more of this connection is parsed, a body no more than the rest. The
            # close is at once (as h11's), and the request still in progress hears that its client is gone.
            self.in_body = False
            super().send_400_response(msg)
            return
        self.guard.head_done()
        self.transport.write(HEAD_TOO_LARGE)
        self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.in_head, self.head_size, self.head_bytes = True, 0, 0
        self.heads += 1

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)  # ": " and CRLF
        super().on_header(name, value)

    def _count(self, size: int) -> None:
        self.head_size += size
        if self.head_size > MAX_HEAD_BYTES:
            self.head_too_large = True
            raise HeadTooLarge

    def on_headers_complete(self) -> None:
        self.guard.head_done()
        self.in_head, self.in_body = False, True
        if self.parser.should_upgrade() and not self._should_upgrade() and _has_body(self.headers):
            self.unframed = True
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self.in_body = False
        super().on_message_complete()

    def on_response_complete(self) -> None:
        # Which request was answered: with none queued behind it, the parser's current one.
        body_unread = self.body_unread()
        idle = not self.pipeline
        super().on_response_complete()  # may start a queued (pipelined) request at once
        if self.transport.is_closing():
            return
        if body_unread:
            self.transport.close()  # answered before its body was read: lingers (see sandbox.api.connections)
        elif idle:
            self.guard.await_head(started=self.in_head)


def _has_body(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether a request head announces a body (a length other than 0, or a transfer coding)."""
    return any(
        name == b"transfer-encoding" or (name == b"content-length" and value.strip() not in (b"", b"0"))
        for name, value in headers
    )
