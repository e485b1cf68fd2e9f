"""Both clients against a tiny real HTTP server on loopback (``scripted``): retries with Retry-After and
their bounds, bodies that are not problem documents, timeouts, and an event stream that breaks."""

from __future__ import annotations

import json
import time
from email.utils import formatdate

import pytest

from sandbox.client import (
    AsyncSandboxClient,
    CapacityUnavailable,
    ClientTimeout,
    ExecutionRecord,
    OutputEvent,
    RateLimited,
    SandboxClient,
    ServerError,
    TransportError,
    UnexpectedResponse,
)
from tests.live_uvicorn import free_port
from tests.unit.client.scripted import RECORD, Answer, json_answer, problem, scripted

BUSY = "no warm container within 30 s"


def test_a_503_is_sent_again_after_the_servers_retry_after() -> None:
    with (
        scripted(problem(503, "capacity_unavailable", BUSY, **{"Retry-After": "1"}), json_answer("[]")) as script,
        SandboxClient(script.url, "k", max_attempts=3, max_retry_wait_s=5) as client,
    ):
        assert client.languages() == []
    assert [s.path for s in script.seen] == ["/v1/languages", "/v1/languages"]
    assert 0.95 <= script.gaps()[0] < 2.5
    assert script.seen[0].headers["Authorization"] == "Bearer k"


def test_a_429_with_an_http_date_is_honoured() -> None:
    later = formatdate(time.time() + 2, usegmt=True)  # whole seconds: 1 to 2 s from now
    with (
        scripted(problem(429, "rejected", "slow down", **{"Retry-After": later}), json_answer("[]")) as script,
        SandboxClient(script.url, "k") as client,
    ):
        assert client.policies() == []
    assert len(script.seen) == 2 and 0.9 <= script.gaps()[0] < 3


def test_retries_stop_at_max_attempts() -> None:
    with (
        scripted(problem(503, "capacity_unavailable", BUSY, **{"Retry-After": "0"})) as script,
        SandboxClient(script.url, "k", max_attempts=3) as client,
        pytest.raises(CapacityUnavailable) as raised,
    ):
        client.languages()
    assert len(script.seen) == 3
    assert raised.value.attempts == 3 and raised.value.retry_after == 0
    assert str(raised.value).endswith("gave up after 3 attempts (max_attempts=3)")


def test_a_retry_after_past_the_budget_is_raised_at_once_not_slept() -> None:
    with scripted(problem(429, "rejected", "rate used up", **{"Retry-After": "100"})) as script:
        started = time.monotonic()
        with SandboxClient(script.url, "k", max_retry_wait_s=5) as client, pytest.raises(RateLimited) as raised:
            client.languages()
    assert time.monotonic() - started < 1.5 and len(script.seen) == 1
    assert raised.value.retry_after == 100 and "past the retry budget (max_retry_wait_s=5" in str(raised.value)


def test_without_retry_after_the_client_backs_off() -> None:
    with (
        scripted(Answer(503, b"busy", {"Content-Type": "text/plain"}), json_answer("[]")) as script,
        SandboxClient(script.url, "k") as client,
    ):
        assert client.languages() == []
    assert 0.45 <= script.gaps()[0] < 2


def test_other_errors_are_not_retried() -> None:
    with (
        scripted(problem(500, "internal_error", "internal error", **{"X-Request-Id": "abc123"})) as script,
        SandboxClient(script.url, "k") as client,
        pytest.raises(ServerError) as raised,
    ):
        client.languages()
    assert len(script.seen) == 1 and raised.value.request_id == "abc123"


def test_an_html_error_page_is_a_clear_exception() -> None:
    page = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
    with (
        scripted(Answer(502, page, {"Content-Type": "text/html"})) as script,
        SandboxClient(script.url, "k") as client,
        pytest.raises(ServerError) as raised,
    ):
        client.get("e1")
    message = str(raised.value)
    assert message.startswith("GET /v1/executions/e1: the server answered HTTP 502 Bad Gateway with a body")
    assert "(text/html)" in message and "<h1>502 Bad Gateway</h1>" in message and raised.value.code is None


def test_a_success_that_is_not_the_api_is_an_unexpected_response() -> None:
    with (
        scripted(Answer(200, b"<html>login</html>", {"Content-Type": "text/html"})) as script,
        SandboxClient(script.url, "k") as client,
        pytest.raises(UnexpectedResponse, match="GET /v1/languages"),
    ):
        client.languages()


def test_a_read_timeout_says_which_phase_which_limit_and_that_the_run_may_go_on() -> None:
    with (
        scripted(Answer(200, b"{}", {"Content-Type": "application/json"}, delay_s=2)) as script,
        SandboxClient(script.url, "k", read_timeout=0.5) as client,
        pytest.raises(ClientTimeout) as raised,
    ):
        client.run("import time; time.sleep(60)")
    error = raised.value
    assert (error.phase, error.limit_s, error.status_code) == ("read", 0.5, None)
    assert str(error).startswith("POST /v1/executions: timed out waiting for the answer (the read timeout is 0.5 s)")
    assert "may still be running server-side" in str(error)


def test_nothing_listening_is_a_transport_error_naming_the_server() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with SandboxClient(url, "k") as client, pytest.raises(TransportError) as raised:
        client.languages()
    assert not isinstance(raised.value, ClientTimeout)
    assert f"GET /v1/languages: no answer from {url}: ConnectError" in str(raised.value)


def sse(*events: tuple[int, str, object]) -> bytes:
    return "".join(f"id: {n}\nevent: {k}\ndata: {json.dumps(d)}\n\n" for n, k, d in events).encode()


STARTED = json_answer(json.dumps({**RECORD, "state": "running", "status": None, "stdout": ""}), status=202)
STREAM = {"Content-Type": "text/event-stream"}


def test_a_stream_cut_before_its_result_is_resumed_after_the_last_event() -> None:
    first = Answer(200, sse((1, "stdout", "a\n")), STREAM, hang_up=True)
    rest = Answer(200, sse((2, "stdout", "b\n"), (3, "result", RECORD)), STREAM, hang_up=True)
    with scripted(STARTED, first, rest) as script, SandboxClient(script.url, "k") as client:
        items = list(client.stream("print('a'); print('b')"))
    assert items[:2] == [OutputEvent("stdout", "a\n", 1), OutputEvent("stdout", "b\n", 2)]
    assert isinstance(items[2], ExecutionRecord) and items[2].stdout == "a\nb\n"
    assert [(s.method, s.path) for s in script.seen] == [
        ("POST", "/v1/executions?wait=false"),
        ("GET", "/v1/executions/e1/events"),
        ("GET", "/v1/executions/e1/events"),
    ]
    assert "Last-Event-ID" not in script.seen[1].headers and script.seen[2].headers["Last-Event-ID"] == "1"


def test_a_stream_that_never_brings_its_result_ends_in_an_error() -> None:
    cut = Answer(200, sse((1, "stdout", "a\n")), STREAM, hang_up=True)
    with (
        scripted(cut) as script,
        SandboxClient(script.url, "k") as client,
        pytest.raises(TransportError, match=r"ended before the execution's result.*broke 4 times"),
    ):
        list(client.follow("e1"))
    assert len(script.seen) == 4


@pytest.mark.anyio
async def test_the_async_client_retries_and_streams_the_same_way() -> None:
    with scripted(problem(503, "capacity_unavailable", BUSY, **{"Retry-After": "1"}), json_answer("[]")) as script:
        async with AsyncSandboxClient(script.url, "k") as client:
            assert await client.languages() == []
    assert len(script.seen) == 2 and script.gaps()[0] >= 0.95
    first = Answer(200, sse((1, "stdout", "a\n")), STREAM, hang_up=True)
    rest = Answer(200, sse((2, "result", RECORD)), STREAM, hang_up=True)
    with scripted(STARTED, first, rest) as script:
        async with AsyncSandboxClient(script.url, "k") as client:
            items = [item async for item in client.stream("print('a')")]
    assert items[0] == OutputEvent("stdout", "a\n", 1) and isinstance(items[1], ExecutionRecord)
    assert script.seen[2].headers["Last-Event-ID"] == "1"
    with scripted(Answer(502, b"", {})) as script:
        async with AsyncSandboxClient(script.url, "k") as client:
            with pytest.raises(ServerError, match="HTTP 502 Bad Gateway with an empty body"):
                await client.languages()
