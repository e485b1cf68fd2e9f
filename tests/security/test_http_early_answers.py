"""Hostile clients against early answers and the lingering close (``ConnectionGuard.linger``).

What a connection carries after a request must be parsed as a request only where the request's
own framing (``Content-Length`` or chunks) says it ends: a body that the server takes for the next
request is request smuggling (a proxy in front frames it as a body, the server runs it). And an
answer given early must not cost a request queued behind another one on the same connection.
The server is ``tests.security.test_http_dos``'s, under each protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import time
from pathlib import Path

import httpx
import pytest

from sandbox.api.app import create_app
from sandbox.config import Settings
from sandbox.engine import FakeBackend
from sandbox.store import Store
from tests.live_uvicorn import uvicorn_in_thread
from tests.security.test_http_dos import (  # noqa: F401 (fixtures)
    BODY_S,
    LINGER_S,
    PER_CLIENT,
    PROMPT_S,
    capped_server,
    hello,
    keyed_request,
    port_of,
    protocol,
    read_until_closed,
    server,
)

#: A request as a body: were it ever answered, the body was parsed as a request.
SMUGGLED = b"GET /healthz?smuggled=1 HTTP/1.1\r\nHost: x\r\n\r\n"
GET = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
LAST_GET = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


def answers(data: bytes) -> list[bytes]:
    """The status lines of the answers in ``data``."""
    return re.findall(rb"HTTP/1\.1 \d{3} [A-Za-z ]*", data)


def exchange(port: int, first: bytes, then: bytes, pause: float = 0.3) -> bytes:
    """Send ``first``, wait, send ``then`` (if the server still takes it); everything it answers."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(first)
        time.sleep(pause)  # the head is answered (or in progress) before the rest comes
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(then)
        try:
            return read_until_closed(sock, timeout=LINGER_S + 5)
        except ConnectionResetError:
            return b"<reset>"


@pytest.mark.parametrize(
    "opening",
    [
        "POST /v1/executions HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nContent-Length: {n}\r\n",
        "POST /v1/executions HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n"
        "Transfer-Encoding: chunked\r\n",
        "POST /mcp HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: {n}\r\n",
        "POST /v1/executions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\n"
        "Connection: Upgrade\r\nUpgrade: h2c\r\nContent-Length: {n}\r\n",
    ],
    ids=["length, no key", "chunked, no key", "mcp, no key", "length, keyed"],
)
def test_the_body_of_an_upgrade_the_server_ignores_is_never_parsed_as_a_request(server, opening: str) -> None:  # noqa: F811
    """A request asking to switch protocols, with a body: the server does not switch (it speaks only
    HTTP/1.1), so the body is the request's, framed by its length or chunks. httptools' parser ends
    such a request at its head and parses what follows as the next request: a body that is a request
    got answered (smuggled past whatever framed it as a body). Nothing after the answer may be."""
    url, key = server
    head = opening.format(n=len(SMUGGLED), key=key).encode() + b"\r\n"
    data = exchange(port_of(url), head, SMUGGLED)
    assert len(answers(data)) == 1 and b'{"status":"ok"}' not in data, data


def test_an_upgrade_without_a_body_is_ignored_and_the_connection_goes_on(server) -> None:  # noqa: F811
    """``curl --http2`` over cleartext asks for h2c on a GET: ignored, its next request is served."""
    url, _ = server
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
    data = exchange(port_of(url), head + b"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n", LAST_GET)
    assert answers(data) == [b"HTTP/1.1 200 OK"] * 2, data


@pytest.mark.parametrize("keyed", [True, False], ids=["keyed", "no key"])
def test_a_request_pipelined_behind_an_answered_one_is_answered_while_its_body_arrives(server, keyed: bool) -> None:  # noqa: F811
    """A GET, then a POST whose body is still arriving when the GET's answer is complete: the POST is
    the next request, its body unread *by it*, not by the GET. h11 took it for the GET's unread body
    and closed lingering: the POST's answer could not be written (``write() after write_eof()``) and
    was lost."""
    url, key = server
    auth = f"Authorization: Bearer {key}\r\n" if keyed else ""
    body = b'{"code": "print(1)"}'
    post = (
        f"POST /v1/executions HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    data = exchange(port_of(url), GET + post + body[:4], body[4:] + LAST_GET)
    if keyed:
        assert answers(data) == [b"HTTP/1.1 200 OK"] * 3, data
        assert b'"stdout":"hello\\n"' in data
    else:  # the POST is refused before its body is read: its answer says close, nothing after it is served
        assert answers(data) == [b"HTTP/1.1 200 OK", b"HTTP/1.1 401 Unauthorized"], data
        assert data.lower().endswith(b"}") and b"connection: close\r\n" in data.lower().split(b"http/1.1 401")[1]


@pytest.mark.parametrize(
    "opening",
    [
        "POST /v1/executions HTTP/1.1\r\nHost: x\r\nContent-Length: {n}\r\n",
        "POST /v1/executions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n",
        "POST /v1/executions HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: {n}\r\n",
        "POST /v1/executions HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nContent-Length: {n}\r\n",
        "GET /v1/executions/abc HTTP/1.1\r\nHost: x\r\nContent-Length: {n}\r\n",
        "GET /v1/executions/abc HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nContent-Length: {n}\r\n",
        "DELETE /mcp HTTP/1.1\r\nHost: x\r\nContent-Length: {n}\r\n",
    ],
    ids=["length", "chunked", "expect 100-continue", "HTTP/1.0 keep-alive", "GET body", "GET body keyed", "mcp"],
)
def test_a_body_arriving_after_an_early_answer_is_never_parsed_as_a_request(server, opening: str) -> None:  # noqa: F811
    """Held: whatever follows an answer given before the body was read is dropped, never parsed."""
    url, key = server
    head = opening.format(n=len(SMUGGLED), key=key).encode() + b"\r\n"
    then = (b"%x\r\n" % len(SMUGGLED) + SMUGGLED + b"\r\n0\r\n\r\n") if b"chunked" in head else SMUGGLED
    data = exchange(port_of(url), head, then + GET)
    assert len(answers(data)) == 1 and b"smuggled" not in data and b'{"status":"ok"}' not in data, data
    assert b"connection: close\r\n" in data.lower(), data


def test_a_malformed_chunk_ends_its_request_at_once(server, caplog: pytest.LogCaptureFixture) -> None:  # noqa: F811
    """A keyed request whose chunked body turns to garbage: the server answers 400 and the connection
    is over. httptools' 400 closed lingering (the body was unread), so the request's app went on
    waiting for a body that would never be parsed, hit its body deadline (``BODY_S``, under
    ``LINGER_S``) and wrote its 408 after the FIN: ``write() after write_eof()``, an ASGI exception,
    logged as an unexpected error."""
    url, key = server
    head = (
        f"POST /v1/executions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
        'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{"co\r\n'
    ).encode()
    with caplog.at_level(logging.ERROR), socket.create_connection(("127.0.0.1", port_of(url))) as sock:
        sock.sendall(head)
        time.sleep(0.3)
        sock.sendall(b"zz\r\nnot a chunk\r\n")
        with contextlib.suppress(ConnectionResetError):
            assert read_until_closed(sock, timeout=5).startswith(b"HTTP/1.1 400 ")
        time.sleep(BODY_S + 1)  # the socket still open: a request still waiting would pass its body deadline
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


def test_past_max_connections_a_lingering_close_is_cut_to_make_room(tmp_path: Path, protocol: str) -> None:  # noqa: F811
    """Connections answered early (401: no key) and lingering are owed nothing more: past
    ``max_connections`` they make room for a new client as a wait for a head does. They could not be
    cut, so anyone without a key could fill the server with them (a fresh one every ``LINGER_S``):
    a new connection, a keyed client's, was closed unanswered."""
    with capped_server(tmp_path, protocol) as (url, key, settings):
        head = b"POST /v1/executions HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" + b" " * 1000
        held = []
        try:
            for _ in range(settings.max_connections):
                sock = socket.create_connection(("127.0.0.1", port_of(url)))
                held.append(sock)
                sock.sendall(head)
            for sock in held:  # all answered: all lingering now
                sock.settimeout(5)
                assert sock.recv(4096).startswith(b"HTTP/1.1 401 ")
            started = time.monotonic()
            response, took = keyed_request(url, key)
            assert time.monotonic() - started < LINGER_S, "too slow: the lingering closes may have ended"
            assert response.status_code == 200 and took < PROMPT_S, (response.status_code, took)
        finally:
            for sock in held:
                sock.close()


def test_lingering_closes_count_against_their_address_cap(server) -> None:  # noqa: F811
    """Held: connections answered early (401) and lingering still count for their address until they
    close, so one address cannot open more than its cap by getting each connection answered early;
    another address is served meanwhile."""
    url, key = server
    source = "127.0.4.1"
    held = []
    try:
        for _ in range(PER_CLIENT):
            sock = socket.create_connection(("127.0.0.1", port_of(url)), source_address=(source, 0))
            held.append(sock)
            sock.sendall(b"POST /v1/executions HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" + b" " * 100)
        for sock in held:
            sock.settimeout(5)
            assert sock.recv(4096).startswith(b"HTTP/1.1 401 ")  # answered: lingering now
        with socket.create_connection(("127.0.0.1", port_of(url)), source_address=(source, 0)) as extra:
            assert read_until_closed(extra, timeout=5).startswith(b"HTTP/1.1 503 ")
        response, took = keyed_request(url, key, source="127.0.4.2")
        assert response.status_code == 200 and took < PROMPT_S
    finally:
        for sock in held:
            sock.close()


@pytest.mark.parametrize("path", ["/", "/nowhere", "/docs/assets/x", "/v1"])
def test_a_slow_body_without_a_key_cannot_hold_a_request_slot_anywhere(tmp_path: Path, path: str) -> None:
    """Only key holders can make the server wait for a slow body (``BodyGuard``): a body sent to a path
    outside ``/v1/`` and ``/mcp`` (where no route takes one) was read all the same, for up to the body
    deadline, each such request in progress meanwhile. Requests in progress are what ``max_requests``
    counts, so a few addresses trickling bodies to ``/`` made every other request a 503."""
    settings = Settings(
        state_dir=tmp_path,
        validation_workers=0,
        pool_size=0,
        max_concurrency=8,  # max_requests: 64
        max_connections_per_client=32,
        body_timeout_s=30,
    )
    app = create_app(settings, backend=FakeBackend(hello))
    with uvicorn_in_thread(app, settings=settings, log_level="error") as url:
        store = Store(settings.database)
        key = store.create_key("k", "standard", 8, 100_000)[1]
        store.close()
        head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        held = []
        try:
            for source in ("127.0.5.1", "127.0.5.2", "127.0.5.3"):
                for _ in range(settings.max_connections_per_client - 1):
                    sock = socket.create_connection(("127.0.0.1", port_of(url)), source_address=(source, 0))
                    sock.sendall(head.encode() + b"{")  # and the rest never
                    held.append(sock)
            time.sleep(0.5)
            response, took = keyed_request(url, key)
            assert response.status_code == 200 and took < PROMPT_S, (response.status_code, took)
        finally:
            for sock in held:
                sock.close()
        answer = httpx.post(url + path, content=b"{}", headers={"content-type": "application/json"})
        assert answer.status_code in (404, 405), answer.text  # the router's answer, as before


class InstalledWebSockets(asyncio.Protocol):
    """What uvicorn hands a WebSocket upgrade to when ``websockets`` or ``wsproto`` is installed (some
    other package pulls it in): a protocol that takes the connection over; this one just closes it."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.close()


def test_a_websocket_upgrade_never_leaves_the_connection_guard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server speaks no WebSocket, but uvicorn's ``ws="auto"`` hands an upgrade to a WebSocket
    protocol whenever a WebSocket library is importable: the connection left the guarded protocol
    for good, and its address was never uncounted. Some such upgrades from one address (a NAT's, a
    proxy's) and that address was refused (503) for the life of the process."""
    from uvicorn.protocols.websockets import auto

    monkeypatch.setattr(auto, "AutoWebSocketsProtocol", InstalledWebSockets)
    settings = Settings(state_dir=tmp_path, validation_workers=0, pool_size=0, max_connections_per_client=8)
    app = create_app(settings, backend=FakeBackend(hello))
    upgrade = (
        b"GET /v1/anything HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
    with uvicorn_in_thread(app, settings=settings, log_level="error") as url:
        for _ in range(2 * settings.max_connections_per_client):
            with socket.create_connection(("127.0.0.1", port_of(url)), source_address=("127.0.6.1", 0)) as sock:
                sock.sendall(upgrade)
                sock.settimeout(5)
                with contextlib.suppress(ConnectionResetError):
                    sock.recv(4096)  # the answer (401), or the close of whatever took the connection over
        time.sleep(0.2)  # the server has seen the last ones close
        transport = httpx.HTTPTransport(local_address="127.0.6.1")
        with httpx.Client(base_url=url, transport=transport, timeout=10) as client:
            assert client.get("/healthz").status_code == 200
