"""The REST door end to end, real engine: SSE resume with Last-Event-ID, a blocking run seen and cancelled
by another client, and the request body cap against the payload cap it is derived from."""

from __future__ import annotations

import base64
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import docker
import httpx
import pytest

PROBLEM = "application/problem+json"
#: Prints 0..11, one line every 0.15 s: long enough to hang up and come back while it runs.
TICKER = "import time\nfor i in range(12):\n    print(i, flush=True)\n    time.sleep(0.15)\n"


@dataclass(frozen=True)
class Event:
    id: int
    kind: str
    data: object


@pytest.fixture(scope="module")
def key(live_server) -> str:
    return live_server.key("e2e-streams")


@pytest.fixture(scope="module")
def api(live_server, key) -> httpx.Client:
    with live_server.client(key) as client:
        yield client


def read_events(response: httpx.Response, stop_after: int | None = None) -> list[Event]:
    """The events of an open text/event-stream answer, to its end or until ``stop_after`` of them."""
    got: list[Event] = []
    fields: dict[str, str] = {}
    for line in response.iter_lines():
        if line:
            name, _, value = line.partition(": ")
            fields[name] = value
            continue
        got.append(Event(int(fields["id"]), fields["event"], json.loads(fields["data"])))
        fields = {}
        if stop_after is not None and len(got) >= stop_after:
            break
    return got


def events(api: httpx.Client, execution_id: str, last: str | None = None, stop_after: int | None = None) -> list[Event]:
    headers = {"Last-Event-ID": last} if last is not None else {}
    with api.stream("GET", f"/v1/executions/{execution_id}/events", headers=headers) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        return read_events(response, stop_after)  # leaving the block hangs up


def stdout_of(got: list[Event]) -> str:
    return "".join(str(e.data) for e in got if e.kind == "stdout")


def test_a_client_that_reconnects_with_last_event_id_misses_nothing_and_sees_nothing_twice(api) -> None:
    execution_id = api.post("/v1/executions?wait=false", json={"code": TICKER}).json()["id"]
    first = events(api, execution_id, stop_after=3)
    assert [e.id for e in first] == [1, 2, 3] and all(e.kind == "stdout" for e in first)
    rest = events(api, execution_id, last=str(first[-1].id))
    assert rest[0].kind == "stdout", "the run was over before the client came back: the test proves less"
    joined = first + rest
    assert [e.id for e in joined] == list(range(1, len(joined) + 1))  # no gap, no repeat
    assert joined[-1].kind == "result" and joined[-1].data["status"] == "ok"  # type: ignore[index]
    expected = "".join(f"{i}\n" for i in range(12))
    assert stdout_of(joined) == expected == joined[-1].data["stdout"]  # type: ignore[index]

    # The finished execution: the same events, from the start or after any of them.
    whole = events(api, execution_id)
    assert whole == joined
    assert events(api, execution_id, last="5") == whole[5:]
    assert events(api, execution_id, last=str(whole[-1].id)) == []


@pytest.mark.parametrize("last", ["abc", "-3", "99999", "1.5"])
def test_a_bad_last_event_id_is_a_400_problem(api, last: str) -> None:
    execution_id = api.post("/v1/executions", json={"code": "print(1)"}).json()["id"]
    response = api.get(f"/v1/executions/{execution_id}/events", headers={"Last-Event-ID": last})
    assert response.status_code == 400 and response.headers["content-type"] == PROBLEM
    assert "Last-Event-ID" in response.json()["detail"]


def test_a_blocking_run_is_listed_while_it_runs_so_another_client_can_follow_and_cancel_it(
    live_server, docker_client
) -> None:
    key = live_server.key("e2e-blocking")
    code = "import time\nprint('up', flush=True)\ntime.sleep(60)"
    with live_server.client(key) as waiting, live_server.client(key) as other, ThreadPoolExecutor(1) as pool:
        blocking = pool.submit(waiting.post, "/v1/executions", json={"code": code})  # wait=true: the default
        deadline = time.monotonic() + 30
        while not (running := [i for i in other.get("/v1/executions").json()["items"] if i["state"] == "running"]):
            assert time.monotonic() < deadline and not blocking.done(), "never listed while it ran"
            time.sleep(0.05)
        assert len(running) == 1
        execution_id = running[0]["id"]
        assert other.get(f"/v1/executions/{execution_id}").json()["state"] == "running"
        seen = events(other, execution_id, stop_after=1)
        assert (seen[0].kind, seen[0].data) == ("stdout", "up\n")
        cancelled = other.post(f"/v1/executions/{execution_id}/cancel")
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "killed"
        answer = blocking.result(timeout=30)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert (body["id"], body["state"], body["status"], body["stdout"]) == (execution_id, "done", "killed", "up\n")
        listed = other.get("/v1/executions").json()["items"]
        assert [(i["id"], i["status"]) for i in listed] == [(execution_id, "killed")]
    # Its container went with it: no container of this server still runs a program.
    owner = live_server.settings.owner
    started = time.monotonic()
    while busy := [
        c["Id"][:12]
        for c in docker_client.api.containers(filters={"label": f"io.sandbox.owner={owner}"})
        if processes(docker_client, c["Id"]) > 1
    ]:
        assert time.monotonic() - started < 10, busy
        time.sleep(0.1)


def processes(docker_client, container_id: str) -> int:
    try:
        return len(docker_client.api.top(container_id)["Processes"] or [])
    except docker.errors.APIError:  # gone or stopped meanwhile
        return 0


def post_raw(api: httpx.Client, body: bytes) -> httpx.Response:
    return api.post("/v1/executions", content=body, headers={"content-type": "application/json"})


def test_a_request_at_the_payload_cap_fits_the_body_cap_in_any_encoding(live_server, api) -> None:
    """The body cap is derived from SANDBOX_REQUEST_BYTES: a request carrying the whole payload cap
    fits it as base64 files (4/3) and as JSON-escaped text (2x, every byte a newline)."""
    cap = live_server.settings.request_bytes
    code = "import os, sys\nprint(os.path.getsize('blob.bin'), len(sys.stdin.read()))"
    blob = base64.b64encode(b"\xff" * (cap - len(code))).decode()
    response = api.post(
        "/v1/executions", json={"code": code, "files": [{"path": "blob.bin", "content": blob, "encoding": "base64"}]}
    )
    assert response.status_code == 200 and response.json()["stdout"] == f"{cap - len(code)} 0\n", response.text

    code = "import sys\nprint(len(sys.stdin.read()))"
    escaped = json.dumps({"code": code, "stdin": "\n" * (cap - len(code))}).encode()
    assert len(escaped) > 2 * cap - len(code)  # each newline is two bytes on the wire
    response = post_raw(api, escaped)
    assert response.status_code == 200 and response.json()["stdout"] == f"{cap - len(code)}\n", response.text

    over = assert_413(post_raw(api, json.dumps({"code": code, "stdin": "x" * (cap - len(code) + 1)}).encode()))
    assert f"over the server cap of {cap} (SANDBOX_REQUEST_BYTES)" in over


def test_the_body_cap_is_exact_and_its_413_names_the_setting(live_server, api) -> None:
    limit = live_server.settings.max_body_bytes
    assert limit == 2 * live_server.settings.request_bytes + (64 << 10)
    small = b'{"code": "print(1)"}'
    padded = small[:-1] + b" " * (limit - len(small)) + b"}"  # JSON whitespace: the body is exactly at the cap
    assert len(padded) == limit
    accepted = post_raw(api, padded)
    assert accepted.status_code == 200 and accepted.json()["stdout"] == "1\n", accepted.text

    detail = assert_413(post_raw(api, padded[:-1] + b" }"))
    assert f"request body of {limit + 1} bytes is over the cap of {limit} bytes" in detail
    assert "SANDBOX_REQUEST_BYTES" in detail and "SANDBOX_MAX_REQUEST_BYTES" in detail

    def chunks():  # no Content-Length: refused while it streams, with the same explanation
        yield padded[:-1]
        yield b"  }"

    assert "SANDBOX_REQUEST_BYTES" in assert_413(post_raw(api, chunks()))


def assert_413(response: httpx.Response) -> str:
    assert response.status_code == 413, response.text[:300]
    assert response.headers["content-type"] == PROBLEM and response.json()["code"] == "rejected"
    return str(response.json()["detail"])
