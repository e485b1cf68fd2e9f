"""D05 (SECURITY-BAR 3.9): one client must not deny the service with connections it never finishes.

A real uvicorn on loopback serves the app (on a ``FakeBackend``) with the HTTP options
`sandbox serve` uses (``server_options``), under each of its protocols (httptools on uvloop,
the default, and h11), and a short request-head deadline. Hostile
clients open hundreds of raw sockets that send nothing, part of a request line or
part of the headers, some trickling a byte at a time; meanwhile a keyed request
from another address must succeed at once. Many source addresses come from
binding client sockets to 127.0.0.2 and up (all of 127/8 is loopback on Linux).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import resource
import select
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sandbox.api.app import create_app
from sandbox.api.connections import LINGER_BYTES, LINGER_S, MAX_HEAD_BYTES
from sandbox.config import Settings
from sandbox.engine import FakeBackend, RunOutcome, RunSpec
from sandbox.models import Status
from sandbox.store import Store
from tests.live_uvicorn import uvicorn_in_thread

HEAD_S = 3.0  # the test server's request-head deadline
PROMPT_S = 3.0  # "at once" for a keyed request, on a loaded 2-core machine
BODY_S = 1.0
PER_CLIENT = 32
HALF_OPEN = 500
#: What half-open connections send: nothing, part of a request line, part of the headers.
OPENINGS = (b"", b"POST /v1/execu", b"POST /v1/executions HTTP/1.1\r\nHost: x\r\nContent-Type: appl")


def hello(spec: RunSpec) -> RunOutcome:
    return RunOutcome(status=Status.OK, exit_code=0, stdout=b"hello\n")


@pytest.fixture(scope="module", params=["httptools", "h11"])
def protocol(request: pytest.FixtureRequest) -> str:
    """``Settings.http_protocol`` of the server under test."""
    return str(request.param)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, protocol: str) -> Iterator[tuple[str, str]]:
    """(base URL, a key) of a server with a short head deadline and its connection caps."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4 * HALF_OPEN:  # the client's sockets and the server's live in this one process
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(4 * HALF_OPEN, hard), hard))
    settings = Settings(
        state_dir=tmp_path_factory.mktemp("dos"),
        validation_workers=0,
        pool_size=0,
        max_concurrency=8,  # 64 requests in progress at most: fewer than the connections held
        header_timeout_s=HEAD_S,
        body_timeout_s=BODY_S,
        keep_alive_s=1,
        max_connections_per_client=PER_CLIENT,
        max_connections=1000,
        http_protocol=protocol,
    )
    app = create_app(settings, backend=FakeBackend(hello))
    with uvicorn_in_thread(app, settings=settings, log_level="error") as url:
        store = Store(settings.database)
        try:
            key = store.create_key("dos", "standard", 8, 100_000)[1]
            assert keyed_request(url, key)[0].status_code == 200  # warm: what a first request loads is not timed
            yield url, key
        finally:
            store.close()
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def keyed_request(url: str, key: str, source: str = "127.0.0.1") -> tuple[httpx.Response, float]:
    """An execution from ``source``, and how long it took."""
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(base_url=url, transport=transport, timeout=10) as client:
        started = time.monotonic()
        response = client.post("/v1/executions", json={"code": "print('hello')"}, headers=bearer(key))
        return response, time.monotonic() - started


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


class Slowloris:
    """Raw sockets that connect, send the start of a request and never finish it (optionally trickling)."""

    def __init__(self, port: int, sources: list[str], count: int, trickle: bool = False) -> None:
        self.sockets: list[socket.socket] = []
        self.closed: set[int] = set()  # file numbers of the sockets the server closed
        self.answers: dict[int, bytes] = {}  # what the server wrote to a socket, by file number
        for source, opening in zip(itertools.islice(itertools.cycle(sources), count), itertools.cycle(OPENINGS)):
            sock = socket.socket()
            sock.bind((source, 0))
            sock.connect(("127.0.0.1", port))
            if opening:
                sock.sendall(opening)
            self.sockets.append(sock)
        self.opened_at = time.monotonic()
        self._stop = threading.Event()
        self._trickler = threading.Thread(target=self._trickle, daemon=True) if trickle else None
        if self._trickler is not None:
            self._trickler.start()

    def _trickle(self) -> None:
        """A header byte on every socket, a few times a second, for as long as the server reads them."""
        while not self._stop.wait(0.2):
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.send(b"X")

    def wait_closed(self, count: int, within: float) -> int:
        """Wait up to ``within`` s until the server has closed ``count`` of the sockets (EOF or reset); how
        many it has closed. What it wrote to each before closing is kept in ``answers``."""
        deadline = time.monotonic() + within
        while True:
            pending = [sock for sock in self.sockets if sock.fileno() not in self.closed]
            remaining = deadline - time.monotonic()
            if len(self.closed) >= count or not pending or remaining <= 0:
                return len(self.closed)
            # poll, not select: with hundreds of sockets in this process descriptors pass FD_SETSIZE (1024)
            poller = select.poll()
            by_fd = {sock.fileno(): sock for sock in pending}
            for fd in by_fd:
                poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
            readable = [by_fd[fd] for fd, _ in poller.poll(min(0.2, remaining) * 1000)]
            for sock in readable:
                try:
                    data = sock.recv(4096)
                except (ConnectionResetError, BrokenPipeError):
                    data = b""
                if data:
                    self.answers[sock.fileno()] = self.answers.get(sock.fileno(), b"") + data
                else:
                    self.closed.add(sock.fileno())

    def close(self) -> None:
        self._stop.set()
        if self._trickler is not None:
            self._trickler.join(timeout=5)
        for sock in self.sockets:
            sock.close()


@contextlib.contextmanager
def slowloris(port: int, sources: list[str], count: int = HALF_OPEN, trickle: bool = False) -> Iterator[Slowloris]:
    attack = Slowloris(port, sources, count, trickle)
    try:
        yield attack
    finally:
        attack.close()


def many_sources(count: int) -> list[str]:
    """``count`` loopback addresses other than 127.0.0.1."""
    return [f"127.0.{n // 254}.{n % 254 + 2}" for n in range(count)]


def test_half_open_connections_from_one_address_are_capped_and_do_not_stop_a_keyed_request(server) -> None:
    url, key = server
    with slowloris(port_of(url), ["127.0.0.9"]) as attack:
        # Past its address's cap, each connection is answered 503 and closed at once (the answer may be
        # lost to a reset when the client had sent something: the server closes without reading it)...
        refused = attack.wait_closed(HALF_OPEN - PER_CLIENT, within=HEAD_S)
        assert time.monotonic() - attack.opened_at < HEAD_S, "too slow to tell refusals from the deadline"
        assert refused == HALF_OPEN - PER_CLIENT
        answers = list(attack.answers.values())
        assert all(a.startswith(b"HTTP/1.1 503 ") and b"too many connections" in a for a in answers), set(answers)
        assert len(answers) >= HALF_OPEN // len(OPENINGS) - PER_CLIENT  # those that sent nothing get it all
        # ... while a keyed request from another address is served,
        response, took = keyed_request(url, key, source="127.0.0.1")
        assert response.status_code == 200 and response.json()["stdout"] == "hello\n", response.text
        assert took < PROMPT_S, f"the keyed request took {took:.2f} s"
        # and the ones within the cap are closed at the head deadline.
        assert attack.wait_closed(HALF_OPEN, within=HEAD_S + 3) == HALF_OPEN


def test_half_open_connections_from_many_addresses_do_not_stop_a_keyed_request(server) -> None:
    url, key = server
    sources = many_sources(250)  # two connections each: under the per-address cap, all accepted
    with slowloris(port_of(url), sources) as attack:
        for _ in range(3):  # more connections than the 503 limit: it counts requests, not connections
            response, took = keyed_request(url, key)
            assert response.status_code == 200, response.text
            assert took < PROMPT_S, f"the keyed request took {took:.2f} s"
        assert attack.wait_closed(1, within=0) == 0, "the requests were not made while all the sockets were held"
        assert attack.wait_closed(HALF_OPEN, within=HEAD_S + 3) == HALF_OPEN, "half-open past the head deadline"
        # A partial head is told why (408); a connection that sent nothing is just closed.
        answers = list(attack.answers.values())
        assert len(answers) == sum(1 for n in range(HALF_OPEN) if OPENINGS[n % len(OPENINGS)])
        assert all(a.startswith(b"HTTP/1.1 408 ") for a in answers)


def test_trickling_header_bytes_does_not_extend_the_deadline(server) -> None:
    """The deadline is on the whole head: a byte every 0.2 s (ten per deadline) is cut all the same."""
    url, key = server
    with slowloris(port_of(url), many_sources(50), count=100, trickle=True) as attack:
        response, took = keyed_request(url, key)
        assert response.status_code == 200 and took < PROMPT_S, (response.status_code, took)
        assert attack.wait_closed(100, within=HEAD_S + 3) == 100
        assert time.monotonic() - attack.opened_at < HEAD_S + 3


def test_the_per_address_cap_leaves_other_addresses_alone(server) -> None:
    url, key = server
    with slowloris(port_of(url), ["127.0.1.77"], count=PER_CLIENT) as attack:
        assert attack.wait_closed(1, within=0.2) == 0, "connections within the cap were closed early"
        # One more from the same address is refused at once; another address is served.
        with socket.create_connection(("127.0.0.1", port_of(url)), source_address=("127.0.1.77", 0)) as extra:
            answer = read_until_closed(extra, timeout=5)
            assert answer.startswith(b"HTTP/1.1 503 ") and b"retry-after: 1" in answer.lower()
        response, _ = keyed_request(url, key, source="127.0.1.78")
        assert response.status_code == 200


def read_until_closed(sock: socket.socket, timeout: float) -> bytes:
    """Everything the server sends until it closes the connection (fails after ``timeout`` s)."""
    sock.settimeout(timeout)
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data


def test_an_idle_keep_alive_connection_is_closed(server) -> None:
    url, _ = server
    with socket.create_connection(("127.0.0.1", port_of(url))) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        started = time.monotonic()
        assert read_until_closed(sock, timeout=5).startswith(b"HTTP/1.1 200 ")
        assert time.monotonic() - started < 1 + 1.0  # keep_alive_s=1, before the head deadline


def test_a_slow_body_of_a_keyed_request_is_cut_at_the_body_deadline(server) -> None:
    url, key = server
    head = (
        f"POST /v1/executions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
        "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port_of(url))) as sock:
        sock.sendall(head + b'{"code": ')
        started = time.monotonic()
        answer = read_until_closed(sock, timeout=BODY_S + 5)
        assert answer.startswith(b"HTTP/1.1 408 "), answer
        assert b"took longer than" in answer
        assert BODY_S - 0.1 < time.monotonic() - started < BODY_S + 3


def test_an_unauthenticated_body_is_refused_before_it_is_read(server) -> None:
    """Without a live key the answer (401) comes at once: nobody without a key holds a request open."""
    url, _ = server
    for authorization in (b"", b"Authorization: Bearer sbx_not-a-key\r\n"):
        head = (
            b"POST /v1/executions HTTP/1.1\r\nHost: x\r\n" + authorization + b"Content-Type: application/json\r\n"
            b"Content-Length: 1000000\r\n\r\n"
        )
        with socket.create_connection(("127.0.0.1", port_of(url))) as sock:
            sock.sendall(head)  # and no body at all
            sock.settimeout(BODY_S / 2)
            answer = sock.recv(4096)
            assert answer.startswith(b"HTTP/1.1 401 "), answer


def test_a_refused_request_cannot_hold_its_connection_by_trickling_its_body(server) -> None:
    """After an early 401 the body is never read: the connection closes, whatever the client keeps sending."""
    url, _ = server
    head = b"POST /v1/executions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port_of(url))) as sock:
        sock.sendall(head)
        started = time.monotonic()
        sock.settimeout(BODY_S)
        answer = b""
        deadline = time.monotonic() + HEAD_S + 3 * BODY_S
        closed = False
        while time.monotonic() < deadline:
            try:
                sock.sendall(b"1\r\na\r\n")  # a chunk every 0.2 s, forever
                chunk = sock.recv(4096)
            except (BlockingIOError, TimeoutError):
                continue
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            if not chunk:
                closed = True
                break
            answer += chunk
            time.sleep(0.2)
    assert answer.startswith(b"HTTP/1.1 401 "), answer
    assert closed, "the connection stayed open while the refused request's body trickled in"
    # At once, not by the next head's deadline (HEAD_S) nor the body's (which a 401 never starts).
    assert time.monotonic() - started < HEAD_S / 2


@pytest.mark.parametrize("refusal", ["401 without a key", "413 by its Content-Length"])
def test_an_early_answer_survives_the_body_the_client_goes_on_sending(server, refusal: str) -> None:
    """A client that sends its whole body before it reads (as most do) still reads an answer given
    before the body was read: the server says ``connection: close``, sends a FIN and drops the rest
    of the body before it closes (an immediate close with the body unread resets the connection, and
    the reset destroys the answer in the client's buffers)."""
    url, key = server
    over = Settings().max_body_bytes + 1
    size, auth = (1 << 20, "") if refusal.startswith("401") else (over, f"Authorization: Bearer {key}\r\n")
    head = (
        f"POST /v1/executions HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\n"
        f"Content-Length: {size}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port_of(url))) as sock:
        sock.sendall(head)
        assert select.select([sock], [], [], 5)[0], "no early answer"
        time.sleep(0.1)  # the server is done with the answer (and, without lingering, has closed)
        sock.settimeout(5)
        sent = 0
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            for _ in range(size // 65536 + 1):
                sent += sock.send(b" " * min(65536, size - sent))
        answer = read_until_closed(sock, timeout=5)
    status = b"HTTP/1.1 401 " if refusal.startswith("401") else b"HTTP/1.1 413 "
    assert answer.startswith(status) and b"connection: close\r\n" in answer.lower(), answer[:300]
    assert sent == size, "the server stopped taking the rest of the body before the client was done"


def test_an_early_answer_drops_only_so_much_of_the_body_before_it_closes(server) -> None:
    """What the server reads (and drops) after an early answer is bounded: a client that goes on
    sending a body of 1 GiB is cut past ``LINGER_BYTES``, within ``LINGER_S``."""
    url, _ = server
    head = b"POST /v1/executions HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (1 << 30)
    sent = 0
    with socket.create_connection(("127.0.0.1", port_of(url))) as sock:
        sock.sendall(head)  # no key: 401
        sock.settimeout(LINGER_S + 3)
        started = time.monotonic()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            while sent < 1 << 30:
                sent += sock.send(b" " * (1 << 20))
        took = time.monotonic() - started
    assert sent < LINGER_BYTES + (16 << 20), f"{sent >> 20} MiB taken after the answer"
    assert took < LINGER_S + 1, f"cut after {took:.2f} s"


def test_after_an_early_answer_the_client_goes_on_on_a_new_connection(server) -> None:
    """httpx streaming a body the server refuses unread: the answer says close, and the same client's
    next request is served (on a new connection, not the one the server is closing)."""
    url, key = server

    def body() -> Iterator[bytes]:
        yield b'{"code": '
        time.sleep(0.2)  # the head was answered meanwhile: no key
        yield b'"print(1)"}'

    with httpx.Client(base_url=url, timeout=10) as client:
        refused = client.post("/v1/executions", content=body(), headers={"content-type": "application/json"})
        assert refused.status_code == 401 and refused.headers["connection"] == "close", refused.headers
        for _ in range(3):
            served = client.post("/v1/executions", json={"code": "print('hello')"}, headers=bearer(key))
            assert served.status_code == 200 and served.json()["stdout"] == "hello\n", served.text


@contextlib.contextmanager
def capped_server(tmp_path: Path, protocol: str, max_connections: int = 50) -> Iterator[tuple[str, str, Settings]]:
    """(base URL, a key, its settings) of a server whose only connection limit is ``max_connections``
    (the head deadline long: the cap is what frees room)."""
    settings = Settings(
        state_dir=tmp_path,
        validation_workers=0,
        pool_size=0,
        header_timeout_s=30,
        max_connections_per_client=0,
        max_connections=max_connections,
        http_protocol=protocol,
    )
    app = create_app(settings, backend=FakeBackend(hello))
    with uvicorn_in_thread(app, settings=settings, log_level="error") as url:
        store = Store(settings.database)
        key = store.create_key("capped", "standard", 8, 100_000)[1]
        store.close()
        yield url, key, settings


def test_past_max_connections_the_longest_wait_for_a_head_is_cut(tmp_path: Path, protocol: str) -> None:
    with (
        capped_server(tmp_path, protocol) as (url, key, _),
        slowloris(port_of(url), many_sources(10), count=50) as attack,
    ):
        response, took = keyed_request(url, key)
        assert response.status_code == 200 and took < PROMPT_S, (response.status_code, took)
        oldest = attack.sockets[0]
        oldest.settimeout(1)
        assert oldest.recv(4096) == b"", "the oldest held connection was not closed to make room"
        assert attack.wait_closed(2, within=0.2) == 1, "more than the oldest connection was closed"


def test_a_head_still_arriving_past_the_cap_is_refused(server, protocol: str) -> None:
    """D06: a header line that never ends is cut once the head passes ``MAX_HEAD_BYTES`` (400 from h11,
    431 from httptools, which would otherwise buffer it without end), long before the head deadline."""
    url, _ = server
    with socket.create_connection(("127.0.0.1", port_of(url))) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: ")
        started = time.monotonic()
        try:
            for _ in range(MAX_HEAD_BYTES // 1024 + 8):
                sock.sendall(b"a" * 1024)
                time.sleep(0.001)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused and closed while sending: what was answered is read below
        with contextlib.suppress(ConnectionResetError):
            answer = read_until_closed(sock, timeout=HEAD_S)
            assert answer.startswith(b"HTTP/1.1 431 " if protocol == "httptools" else b"HTTP/1.1 400 "), answer
        assert time.monotonic() - started < HEAD_S


@pytest.mark.parametrize("shape", ["one header", "many headers"])
def test_a_whole_head_over_the_cap_is_refused(server, protocol: str, shape: str) -> None:
    """D06 for a complete head that arrives in one read (h11 caps only an incomplete one)."""
    if protocol != "httptools":
        pytest.skip("h11 refuses only a head still incomplete past its cap")
    url, _ = server
    pad = (
        b"X-Pad: " + b"a" * (MAX_HEAD_BYTES + 10) + b"\r\n"
        if shape == "one header"
        else b"".join(b"X-Pad-%d: aaaaaaaaaaaaaaaa\r\n" % n for n in range(MAX_HEAD_BYTES // 20))
    )
    with socket.create_connection(("127.0.0.1", port_of(url))) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + pad + b"\r\n")
        answer = read_until_closed(sock, timeout=5)
    assert answer.startswith(b"HTTP/1.1 431 ") and b"request head over 32768 bytes" in answer, answer[:200]


def test_a_head_under_the_cap_is_served(server) -> None:
    url, _ = server
    with socket.create_connection(("127.0.0.1", port_of(url))) as sock:
        pad = b"".join(b"X-Pad-%d: aaaaaaaaaaaaaaaa\r\n" % n for n in range(MAX_HEAD_BYTES // 40))
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + pad + b"\r\n")
        assert read_until_closed(sock, timeout=5).startswith(b"HTTP/1.1 200 ")


def test_pipelined_requests_are_all_answered_in_order(server, protocol: str) -> None:
    """Requests sent back to back on one connection, a body among them: each answered once, in order."""
    url, key = server
    body = b'{"code": "print(1)"}'
    post = (
        f"POST /v1/executions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    get = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    last = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port_of(url))) as sock:
        sock.sendall(get + post + get + last)
        answer = read_until_closed(sock, timeout=10)
    assert answer.count(b"HTTP/1.1 200 ") == 4, answer
    assert answer.index(b'"stdout":"hello\\n"') < answer.rindex(b"HTTP/1.1 200 "), answer


def test_the_default_server_is_the_guarded_httptools_protocol_on_uvloop() -> None:
    """What `sandbox serve` runs unless ``SANDBOX_HTTP_PROTOCOL=h11`` says otherwise."""
    import uvicorn
    import uvloop

    from sandbox.api.connections import GuardedH11Protocol, loop_factory, server_options
    from sandbox.api.connections_httptools import GuardedHttpToolsProtocol

    for protocol, protocol_class, loop_class in (
        ("httptools", GuardedHttpToolsProtocol, uvloop.Loop),
        ("h11", GuardedH11Protocol, asyncio.SelectorEventLoop),
    ):
        settings = Settings.model_construct() if protocol == "httptools" else Settings(http_protocol=protocol)
        config = uvicorn.Config(create_app(settings), **server_options(settings))
        config.load()
        assert config.http_protocol_class is protocol_class
        for factory in (config.get_loop_factory(), loop_factory(settings)):
            assert factory is not None
            loop = factory()
            try:
                assert type(loop) is loop_class
            finally:
                loop.close()
