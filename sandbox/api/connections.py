"""The HTTP server's connection limits: what one client can hold, and for how long (D05, D06, issue 11).

uvicorn's own limits leave a server deniable by one client: it has no deadline on
reading a request's head, and its ``limit_concurrency`` counts open connections,
so a few hundred connections that never finish their headers make every other
request a 503. ``ConnectionGuard`` adds to a uvicorn HTTP protocol:

- a deadline on the whole head (request line and headers) of every request,
  counted from the connection's start or the end of the previous response, not
  per byte: a client trickling a byte a second is cut like one sending nothing;
- a cap on the connections one client address holds open: past it a new
  connection gets a 503 and is closed before anything of it is read;
- a cap on open connections in all: past it a connection closing lingering
  (below), or else the one that has waited longest for a request head, is
  closed to make room (a new client gets in);
- a limit on requests in progress (``max_requests``, 503 past it) that counts
  requests whose head is complete, not connections.

Its protocol also closes a connection whose request was answered before its body
was read (401 without a key, 413, 503): the rest of the body would hold the
connection with no deadline. Such an answer says ``connection: close`` (the client
must not send its next request there), and the close *lingers*
(``ConnectionGuard.linger``): a FIN after the answer, then for at most ``LINGER_S``
and ``LINGER_BYTES`` what the client still sends is read and dropped. Closing a
socket with unread data makes the kernel reset the connection, and the reset can
destroy the answer in the client's buffers before the client reads it: a client
streaming a body over the cap lost its 413 that way. The protocol's transport is a
``LingeringTransport``, so uvicorn's own close after such an answer lingers too.
Two protocols carry the guard: ``GuardedH11Protocol``
here (uvicorn's pure-Python h11) and ``GuardedHttpToolsProtocol``
(``sandbox.api.connections_httptools``: uvicorn's httptools, the default, faster by
~0.3 ms a request). ``server_options`` is what every server of the project hands
uvicorn: the protocol ``Settings.http_protocol`` names, its event loop, the cap
on a request head (``MAX_HEAD_BYTES``), and no WebSocket protocol.

The body of a request is bounded by ``BodyGuard`` (size and read deadline). The
limits come from the settings through the app's lifespan state (``LIMITS_STATE``),
which uvicorn hands to every connection of that server: each server, each worker
process, has its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

import h11
from uvicorn.config import LOOP_FACTORIES, Config
from uvicorn.importer import import_from_string
from uvicorn.protocols.http.flow_control import service_unavailable
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from sandbox.config import Settings

#: What a client over its address's cap receives before the connection is closed (nothing of it is read).
_REFUSAL = b"too many connections from your address"
TOO_MANY = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: %d\r\nretry-after: 1\r\nconnection: close\r\n\r\n%s" % (len(_REFUSAL), _REFUSAL)
)
#: What a client whose request head was still incomplete at the deadline receives.
TIMED_OUT = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
#: The cap on one request's head, request line and headers (D06): h11 answers 400 past it, httptools 431.
MAX_HEAD_BYTES = 32 << 10

#: How long, and how much of the unread rest of a body, a connection answered early still reads (and drops).
LINGER_S = 2.0
LINGER_BYTES = 16 << 20

#: The lifespan state key under which the app hands its limits to the server (``create_app``'s lifespan).
LIMITS_STATE = "sandbox.connection_limits"
#: uvicorn's ``http`` protocol and ``loop`` for each value of ``Settings.http_protocol``: httptools on
#: uvloop when it is installed ("auto"; the ``server`` extra installs it where it has wheels), h11 on
#: asyncio's own loop (the portable pair).
PROTOCOLS = {
    "httptools": "sandbox.api.connections_httptools:GuardedHttpToolsProtocol",
    "h11": "sandbox.api.connections:GuardedH11Protocol",
}
LOOPS = {"httptools": "auto", "h11": "asyncio"}

ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]


def server_options(settings: Settings) -> dict[str, Any]:
    """What `sandbox serve` and the tests hand uvicorn about connections and its loop (the protocol
    reads its limits from the app)."""
    return {
        "http": PROTOCOLS[settings.http_protocol],
        "loop": LOOPS[settings.http_protocol],
        "timeout_keep_alive": settings.keep_alive_s,
        "h11_max_incomplete_event_size": MAX_HEAD_BYTES,
        # No WebSocket route: uvicorn's "auto" would hand an upgrade to a WebSocket protocol whenever a
        # library for it is importable, and the connection would leave the guard (its address never uncounted).
        "ws": "none",
    }


def loop_factory(settings: Settings) -> Callable[[], asyncio.AbstractEventLoop]:
    """The event loop of ``server_options``, for a process that runs its own (``sandbox worker``, whose
    health server shares the worker's loop): ``asyncio.Runner(loop_factory=...)``."""
    factory: Callable[..., Callable[[], asyncio.AbstractEventLoop]] = import_from_string(
        LOOP_FACTORIES[LOOPS[settings.http_protocol]]
    )
    return factory(use_subprocess=False)


@dataclass(frozen=True)
class ConnectionLimits:
    """The limits of one server process (see the settings of the same names)."""

    header_timeout_s: float
    max_connections_per_client: int  # 0: no cap
    max_connections: int
    max_requests: int

    @classmethod
    def of(cls, settings: Settings) -> ConnectionLimits:
        return cls(
            header_timeout_s=settings.header_timeout_s,
            max_connections_per_client=settings.max_connections_per_client,
            max_connections=settings.max_connections,
            max_requests=max(64, settings.max_concurrency * 8),
        )


class _Books:
    """One server's bookkeeping, shared by its connections."""

    def __init__(self) -> None:
        self.per_client: Counter[str] = Counter()
        #: Connections waiting for a request head, oldest first (dicts keep insertion order).
        self.waiting: dict[ConnectionGuard, None] = {}
        #: Connections closing lingering (``ConnectionGuard.linger``): answered, owed nothing more.
        self.lingering: dict[ConnectionGuard, None] = {}

    def evict_oldest_waiting(self) -> bool:
        """Close a connection closing lingering, or else the one that has waited longest for a request
        head; False if there is none."""
        for oldest in self.lingering or self.waiting:
            oldest.head_done()
            self.lingering.pop(oldest, None)
            if oldest.transport is not None:
                oldest.transport.close()
            return True
        return False


DEFAULT_LIMITS = ConnectionLimits.of(Settings.model_construct())  # the declared defaults (no environment)
_BOOKS: WeakKeyDictionary[ServerState, _Books] = WeakKeyDictionary()


class ConnectionGuard:
    """One connection's side of the limits, whichever protocol parses it.

    The protocol calls ``admit`` when the connection is made (False: refused and closed), ``heard``
    with every chunk it receives, ``head_done`` once a request's head is complete, ``await_head``
    when it is ready for the next one, and ``release`` when the connection is lost; it serves
    ``limited(app)`` for uvicorn's own concurrency limit, which it turns off.
    """

    def __init__(self, app_state: dict[str, Any], server_state: ServerState, loop: asyncio.AbstractEventLoop) -> None:
        limits = app_state.get(LIMITS_STATE)
        self.limits = limits if isinstance(limits, ConnectionLimits) else DEFAULT_LIMITS
        self.books = _BOOKS.setdefault(server_state, _Books())
        self.tasks = server_state.tasks
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.address: str | None = None  # counted against its cap while open; None: refused or unknown
        self.timer: asyncio.TimerHandle | None = None
        self.started = False  # something of the awaited head came
        self.lingering: int | None = None  # bytes it may still drop (``linger``); None: not lingering
        self.linger_timer: asyncio.TimerHandle | None = None

    @property
    def waiting(self) -> bool:
        """A request head is awaited (its deadline runs)."""
        return self.timer is not None

    def admit(self, transport: asyncio.Transport, client: tuple[str, int] | None, open_connections: int) -> bool:
        """Count a new connection and start its head deadline, or refuse it (answered and closed)."""
        address = client[0] if client else None
        cap = self.limits.max_connections_per_client
        if address is not None and cap and self.books.per_client[address] >= cap:
            transport.write(TOO_MANY)
            transport.close()
            return False
        if open_connections > self.limits.max_connections and not self.books.evict_oldest_waiting():
            transport.close()
            return False
        self.transport = transport
        if address is not None:
            self.address = address
            self.books.per_client[address] += 1
        self.await_head()
        return True

    def release(self) -> None:
        """The connection is gone: stop its deadlines and uncount it."""
        self.head_done()
        if self.linger_timer is not None:
            self.linger_timer.cancel()
            self.linger_timer = None
        self.books.lingering.pop(self, None)
        if self.address is not None:
            self.books.per_client[self.address] -= 1
            if self.books.per_client[self.address] <= 0:
                del self.books.per_client[self.address]
            self.address = None

    def heard(self) -> None:
        if self.timer is not None:
            self.started = True

    def await_head(self, started: bool = False) -> None:
        """Start the deadline of the next request's head (``started``: some of it is already in)."""
        self.head_done()
        self.started = started
        self.timer = self.loop.call_later(self.limits.header_timeout_s, self._timed_out)
        self.books.waiting[self] = None

    def head_done(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.books.waiting.pop(self, None)

    def _timed_out(self) -> None:
        self.timer = None
        self.books.waiting.pop(self, None)
        if self.transport is not None and not self.transport.is_closing():
            if self.started:
                self.transport.write(TIMED_OUT)
            self.transport.close()

    def linger(self) -> None:
        """Answered before the request's body was read: FIN, drop what still comes, close (module docstring)."""
        transport = self.transport
        if transport is None or transport.is_closing() or self.lingering is not None:
            return
        self.head_done()
        self.lingering = LINGER_BYTES
        self.books.lingering[self] = None  # the first to go when room is needed (``_Books``)
        if transport.can_write_eof():
            transport.write_eof()  # after the answer: all the client gets
        transport.resume_reading()  # the server had stopped reading a body nobody consumed
        self.linger_timer = self.loop.call_later(LINGER_S, transport.close)

    def dropped(self, data: bytes) -> bool:
        """Whether ``data`` came while lingering (then it is dropped; past the allowance the connection closes)."""
        if self.lingering is None:
            return False
        self.lingering -= len(data)
        if self.lingering < 0 and self.transport is not None:
            self.transport.close()
        return True

    def limited(self, app: ASGIApp, logger: logging.Logger, body_unread: Callable[[], bool]) -> ASGIApp:
        """``app``, or a 503 while ``max_requests`` requests (this one's task included) are in progress;
        an answer that starts while ``body_unread()`` says ``connection: close`` (module docstring)."""

        async def limited_app(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                send = _closing_early(send, body_unread)
            if len(self.tasks) > self.limits.max_requests:
                logger.warning("Exceeded concurrency limit.")
                await service_unavailable(scope, receive, send)
            else:
                await app(scope, receive, send)

        return limited_app


def _closing_early(send: Any, body_unread: Callable[[], bool]) -> Any:
    """``send``, adding ``connection: close`` to an answer that starts before the request's body is read."""

    async def sending(message: Any) -> None:
        if message["type"] == "http.response.start" and body_unread():
            message = {**message, "headers": [*message.get("headers", ()), (b"connection", b"close")]}
        await send(message)

    return sending


class LingeringTransport:
    """The transport a guarded protocol and its request cycles hold: ``close`` lingers
    (``ConnectionGuard.linger``) while the answered request's body is unread, and closes at once
    otherwise; everything else is the socket's own transport. uvicorn closes a connection itself
    after an answer that says ``connection: close``: this is how that close lingers too."""

    def __init__(self, transport: asyncio.Transport, guard: ConnectionGuard, body_unread: Callable[[], bool]) -> None:
        self._transport = transport
        self._guard = guard
        self._body_unread = body_unread

    def close(self) -> None:
        if self._guard.lingering is None and self._body_unread():
            self._guard.linger()
        else:
            self._transport.close()

    def is_closing(self) -> bool:
        return self._guard.lingering is not None or self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    @classmethod
    def wrap(cls, transport: asyncio.Transport, guard: ConnectionGuard, body_unread: Callable[[], bool]) -> Any:
        """``transport`` wrapped, typed as the transport uvicorn expects."""
        return cls(transport, guard, body_unread)


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with the ``ConnectionGuard`` (module docstring)."""

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

    def body_unread(self) -> bool:
        """The request being answered has a body not yet all received (h11 parses one request at a time)."""
        return self.conn.their_state is h11.SEND_BODY

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(LingeringTransport.wrap(transport, self.guard, self.body_unread))
        self.guard.admit(transport, self.client, len(self.connections))

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard.release()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.guard.dropped(data):
            return
        self.guard.heard()
        super().data_received(data)
        if self.guard.waiting and self.conn.their_state is not h11.IDLE:
            self.guard.head_done()  # a request's head is complete (or the connection failed)

    def on_response_complete(self) -> None:
        body_unread = self.body_unread()  # of the request answered: after the next line, of the next one's
        super().on_response_complete()  # may start a pipelined request at once
        if self.transport.is_closing():
            return
        if body_unread:
            self.transport.close()  # answered before its body was read: lingers (module docstring)
        elif self.conn.their_state is h11.IDLE:
            self.guard.await_head()
