"""The HTTP server's connection limits: what one client can hold, and for how long (D05, issue 11).

uvicorn's own limits leave a server deniable by one client: it has no deadline on
reading a request's head, and its ``limit_concurrency`` counts open connections,
so a few hundred connections that never finish their headers make every other
request a 503. ``GuardedH11Protocol`` is uvicorn's h11 protocol with:

- a deadline on the whole head (request line and headers) of every request,
  counted from the connection's start or the end of the previous response, not
  per byte: a client trickling a byte a second is cut like one sending nothing;
- a cap on the connections one client address holds open: past it a new
  connection gets a 503 and is closed before anything of it is read;
- a cap on open connections in all: past it the connection that has waited
  longest for a request head is closed to make room (a new client gets in);
- a limit on requests in progress (``max_requests``, 503 past it) that counts
  requests whose head is complete, not connections.

The body of a request is bounded by ``BodyGuard`` (size and read deadline).

`sandbox serve` names this class as uvicorn's ``http`` protocol; the limits come from
the settings through the app's lifespan state (``LIMITS_STATE``), which uvicorn hands
to every connection of that server: each server, each worker process, has its own.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

import h11
from uvicorn.config import Config
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


#: The lifespan state key under which the app hands its limits to the server (``create_app``'s lifespan).
LIMITS_STATE = "sandbox.connection_limits"


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
        self.waiting: dict[GuardedH11Protocol, None] = {}


DEFAULT_LIMITS = ConnectionLimits.of(Settings.model_construct())  # the declared defaults (no environment)
_BOOKS: WeakKeyDictionary[ServerState, _Books] = WeakKeyDictionary()


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a request-head deadline and connection caps (module docstring)."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        limits = app_state.get(LIMITS_STATE)
        self.limits = limits if isinstance(limits, ConnectionLimits) else DEFAULT_LIMITS
        self.books = _BOOKS.setdefault(server_state, _Books())
        self.limit_concurrency = None  # uvicorn's counts connections; ours (below) counts requests
        self.inner_app = self.app
        self.app = self.limited_app
        self.address: str | None = None  # counted against its cap while open; None: refused or unknown
        self.head_timer: asyncio.TimerHandle | None = None
        self.head_started = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        address = self.client[0] if self.client else None
        cap = self.limits.max_connections_per_client
        if address is not None and cap and self.books.per_client[address] >= cap:
            transport.write(TOO_MANY)
            transport.close()
            return
        if len(self.connections) > self.limits.max_connections and not self._evict_oldest_waiting():
            transport.close()
            return
        if address is not None:
            self.address = address
            self.books.per_client[address] += 1
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_done()
        if self.address is not None:
            self.books.per_client[self.address] -= 1
            if self.books.per_client[self.address] <= 0:
                del self.books.per_client[self.address]
            self.address = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.head_timer is not None:
            self.head_started = True
        super().data_received(data)
        if self.head_timer is not None and self.conn.their_state is not h11.IDLE:
            self._head_done()  # a request's head is complete (or the connection failed)

    def on_response_complete(self) -> None:
        super().on_response_complete()  # may start a pipelined request at once
        if self.transport.is_closing():
            return
        if self.conn.their_state is h11.SEND_BODY:
            # Answered before its body was read (401 without a key, 413, 503): the rest of the body
            # would hold the connection with no deadline (each byte resets keep-alive). Close it.
            self.transport.close()
        elif self.conn.their_state is h11.IDLE:
            self._await_head()

    async def limited_app(self, scope: Any, receive: Any, send: Any) -> None:
        """The app, or a 503 while ``max_requests`` requests (this one's task included) are in progress."""
        if len(self.tasks) > self.limits.max_requests:
            self.logger.warning("Exceeded concurrency limit.")
            await service_unavailable(scope, receive, send)
        else:
            await self.inner_app(scope, receive, send)

    def _await_head(self) -> None:
        self._head_done()
        self.head_started = False
        self.head_timer = self.loop.call_later(self.limits.header_timeout_s, self._head_timed_out)
        self.books.waiting[self] = None

    def _head_done(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None
        self.books.waiting.pop(self, None)

    def _head_timed_out(self) -> None:
        self.head_timer = None
        self.books.waiting.pop(self, None)
        if not self.transport.is_closing():
            if self.head_started:
                self.transport.write(TIMED_OUT)
            self.transport.close()

    def _evict_oldest_waiting(self) -> bool:
        """Close the connection that has waited longest for a request head; False if none waits."""
        for oldest in self.books.waiting:
            oldest._head_done()
            oldest.transport.close()
            return True
        return False
