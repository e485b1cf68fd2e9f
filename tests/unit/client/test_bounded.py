"""Both clients against a hostile server on loopback: a body that never ends, an event-stream line with
no end, data lines with no blank line, bytes that trickle in forever. Each must end in a clear
exception with the client's memory and time bounded (``sandbox.client.bounded``)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest

from sandbox.client import (
    APIError,
    AsyncSandboxClient,
    ClientTimeout,
    ConfigurationError,
    SandboxClient,
    TransportError,
    UnexpectedResponse,
)
from sandbox.client.bounded import Ceiling, Lines
from tests.unit.client.scripted import Answer, scripted

CAP = 1 << 20  # the clients' max_response_bytes in these tests


@dataclass
class Sent:
    bytes: int = 0


@contextmanager
def endless(content_type: str, first: bytes, chunk: bytes, pause_s: float = 0.0) -> Iterator[tuple[str, Sent]]:
    """A server that answers 200 with a chunked body: ``first``, then ``chunk`` again and again until the
    client hangs up (``pause_s`` between chunks). Yields its URL and how much it sent."""
    sent = Sent()
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with connection:
                connection.recv(65536)
                head = f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n"
                try:
                    connection.sendall(head.encode() + b"%x\r\n%s\r\n" % (len(first), first))
                    sent.bytes += len(first)
                    while not stop.is_set():
                        connection.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        sent.bytes += len(chunk)
                        time.sleep(pause_s)
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", sent
    finally:
        stop.set()
        listener.close()
        thread.join(timeout=5)


def follow_sync(url: str, read_s: float = 30.0) -> None:
    with SandboxClient(url, "k", max_response_bytes=CAP) as client:
        for _ in client.follow("e1", read_s=read_s):
            pass


def follow_async(url: str, read_s: float = 30.0) -> None:
    async def go() -> None:
        async with AsyncSandboxClient(url, "k", max_response_bytes=CAP) as client:
            async for _ in client.follow("e1", read_s=read_s):
                pass

    asyncio.run(go())


FOLLOWERS = [pytest.param(follow_sync, id="sync"), pytest.param(follow_async, id="async")]


@pytest.mark.parametrize("follow", FOLLOWERS)
def test_an_event_stream_line_that_never_ends_is_cut_at_the_cap(follow) -> None:  # type: ignore[no-untyped-def]
    with endless("text/event-stream", b"data: ", b"x" * 65536) as (url, sent), pytest.raises(UnexpectedResponse) as e:
        follow(url)
    assert "past max_response_bytes=1048576 bytes" in str(e.value) and e.value.status_code == 200
    assert sent.bytes < 16 * CAP  # the client hung up soon after the cap, not when memory ran out


@pytest.mark.parametrize("follow", FOLLOWERS)
def test_data_lines_with_no_blank_line_are_cut_at_the_cap(follow) -> None:  # type: ignore[no-untyped-def]
    with (
        endless("text/event-stream", b"event: stdout\n", b'data: "' + b"x" * 1000 + b'"\n') as (url, sent),
        pytest.raises(UnexpectedResponse) as e,
    ):
        follow(url)
    assert "past max_response_bytes" in str(e.value) and sent.bytes < 16 * CAP


@pytest.mark.parametrize("follow", FOLLOWERS)
def test_a_stream_of_keep_alive_comments_ends_in_a_timeout(follow) -> None:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    with (
        endless("text/event-stream", b": hello\n", b": still here\n", pause_s=0.05) as (url, _),
        pytest.raises(ClientTimeout) as e,
    ):
        follow(url, read_s=1.0)  # the per-read timeout never fires: a byte comes every 50 ms
    assert 0.9 < time.monotonic() - started < 10
    assert "trickling in for more than 1 s" in str(e.value) and e.value.phase == "read"


def test_a_body_that_never_ends_is_cut_at_the_cap_sync() -> None:
    with (
        endless("application/json", b"[", b"1," * 32768) as (url, sent),
        SandboxClient(url, "k", max_response_bytes=CAP) as client,
        pytest.raises(UnexpectedResponse) as e,
    ):
        client.languages()
    assert "GET /v1/languages: HTTP 200 with an answer" in str(e.value) and sent.bytes < 16 * CAP


def test_a_body_that_never_ends_is_cut_at_the_cap_async() -> None:
    async def go() -> None:
        async with AsyncSandboxClient(url, "k", max_response_bytes=CAP) as client:
            await client.policies()

    with endless("application/json", b"[", b"1," * 32768) as (url, sent), pytest.raises(UnexpectedResponse) as e:
        asyncio.run(go())
    assert "GET /v1/policies" in str(e.value) and sent.bytes < 16 * CAP


def test_a_body_trickling_in_ends_in_a_timeout() -> None:
    started = time.monotonic()
    with (
        endless("application/json", b"[", b" ", pause_s=0.05) as (url, _),
        SandboxClient(url, "k", read_timeout=1) as client,
        pytest.raises(ClientTimeout) as e,
    ):
        client.languages()
    assert 0.9 < time.monotonic() - started < 10 and "trickling in for more than 1 s" in str(e.value)


def test_a_declared_length_past_the_cap_is_refused_before_reading() -> None:
    request = httpx.Request("GET", "http://x/v1/languages")
    response = httpx.Response(200, headers={"Content-Length": str(CAP + 1)}, request=request)
    with pytest.raises(UnexpectedResponse, match="past max_response_bytes=1048576"):
        Ceiling(response, "GET /v1/languages", CAP, 5.0)


def lines_of(chunks: list[bytes], cap: int = 100) -> list[str]:
    response = httpx.Response(200, request=httpx.Request("GET", "http://x/"))
    splitter = Lines(Ceiling(response, "GET /", cap, 5.0))
    return [line for chunk in chunks for line in splitter.feed(chunk)]


def test_lines_end_at_lf_crlf_or_cr_even_across_chunks() -> None:
    assert lines_of([b"a\r", b"\nb\rc\n", b"\n", b"d\r", b"e\n"]) == ["a", "b", "c", "", "d", "e"]
    assert lines_of([b"\xc3", b"\xa9t\xc3\xa9\n"]) == ["été"]  # a character split between chunks


def test_one_event_is_capped_not_the_whole_stream() -> None:
    event = b"data: " + b"x" * 40 + b"\n\n"
    assert len(lines_of([event] * 50)) == 100  # 50 events of 46 characters: far past 100 in all
    with pytest.raises(UnexpectedResponse):
        lines_of([b"data: " + b"x" * 40 + b"\n"] * 3)  # one event of three lines: 138 characters


def test_max_response_bytes_must_be_positive() -> None:
    with pytest.raises(ConfigurationError, match="max_response_bytes"):
        SandboxClient("http://127.0.0.1:1", "k", max_response_bytes=0)


def test_a_body_that_is_not_what_its_content_encoding_says_is_a_client_error() -> None:
    """httpx's DecodingError is no TransportError: it escaped the client's error tree as a raw httpx error."""
    bogus = Answer(200, b"\x1f\x8b not gzip at all", {"Content-Type": "application/json", "Content-Encoding": "gzip"})
    with scripted(bogus) as script, SandboxClient(script.url, "k") as client, pytest.raises(TransportError) as e:
        client.languages()
    assert "could not be decoded as its Content-Encoding says" in str(e.value)

    async def go() -> None:
        async with AsyncSandboxClient(script.url, "k", max_attempts=1) as client:
            await client.languages()

    with scripted(bogus) as script, pytest.raises(TransportError):
        asyncio.run(go())


def test_a_stream_whose_encoding_breaks_is_resumed_then_raised_as_a_client_error() -> None:
    bogus = Answer(200, b"\x1f\x8b nope", {"Content-Type": "text/event-stream", "Content-Encoding": "gzip"})
    with scripted(bogus) as script, SandboxClient(script.url, "k") as client, pytest.raises(TransportError) as e:
        list(client.follow("e1", read_s=5))
    assert "Content-Encoding" in str(e.value) and len(script.seen) == 4  # the first try and 3 resumptions


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_an_error_that_says_so_and_is_never_followed(status: int) -> None:
    """A redirect was a success: an artifact's bytes were the redirect's empty body, a deletion 'worked'."""
    elsewhere = Answer(status, b"", {"Location": "http://elsewhere.example/v1/secrets/x"})
    with scripted(elsewhere) as script, SandboxClient(script.url, "k") as client:
        with pytest.raises(APIError) as raised:
            client.artifact("e1", "out/a.txt")
        assert raised.value.status_code == status and "a redirect to 'http://elsewhere.example/v1/secrets/x'" in str(
            raised.value
        )
        with pytest.raises(APIError, match="follows no redirect"):
            client.secrets.delete("x")
        with pytest.raises(APIError, match="follows no redirect"):
            list(client.follow("e1", read_s=5))
    assert len(script.seen) == 3 and all(seen.headers["Host"].startswith("127.0.0.1") for seen in script.seen)
