"""The REST door end to end: real HTTP to a live uvicorn, real containers, a real SQLite file."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import docker
import httpx
import pytest

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def key(live_server) -> str:
    return live_server.key("e2e-main")


@pytest.fixture(scope="module")
def api(live_server, key) -> httpx.Client:
    with live_server.client(key) as client:
        yield client


def run(api: httpx.Client, code: str, **extra: object) -> httpx.Response:
    return api.post("/v1/executions", json={"code": code, **extra})


def post_raw(api: httpx.Client, content: object) -> httpx.Response:
    return api.post("/v1/executions", content=content, headers={"content-type": "application/json"})


def assert_problem(response: httpx.Response, http_status: int, code: str) -> dict:
    assert response.status_code == http_status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == http_status and body["code"] == code and body["type"] == f"urn:sandbox:problem:{code}"
    assert body["message"] == body["detail"] and isinstance(body["findings"], list)
    return body


def test_health_and_readiness(live_server) -> None:
    with live_server.client() as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code in (200, 503) and "pools" in ready.json()


def test_hello_world(api) -> None:
    response = run(api, "print('hello world')")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["stdout"], body["state"], body["policy"]) == (
        "ok",
        "hello world\n",
        "done",
        "standard",
    )
    assert body["id"] and body["created_at"] and body["finished_at"]
    stored = api.get(f"/v1/executions/{body['id']}").json()
    assert stored["stdout"] == "hello world\n" and stored["status"] == "ok"


def test_files_stdin_and_args(api) -> None:
    files = [{"path": "data.bin", "content": "AAEC", "encoding": "base64"}, {"path": "t.txt", "content": "hi"}]
    code = "import sys\nprint(open('data.bin','rb').read(), open('t.txt').read(), sys.argv[1:], sys.stdin.read())"
    body = run(api, code, files=files, stdin="in", args=["a", "b"]).json()
    assert body["stdout"] == "b'\\x00\\x01\\x02' hi ['a', 'b'] in\n"


@pytest.mark.parametrize(
    ("headers", "detail"),
    [({}, "missing"), ({"Authorization": "Bearer sbx_wrong"}, "unknown"), ({"Authorization": "Basic x"}, "missing")],
)
def test_auth_failures(live_server, headers, detail) -> None:
    with live_server.client() as client:
        response = client.post("/v1/executions", json={"code": "print(1)"}, headers=headers)
    body = assert_problem(response, 401, "rejected")
    assert detail in body["detail"] and response.headers["www-authenticate"].startswith("Bearer")


def test_revoked_key_is_refused(live_server) -> None:
    secret = live_server.key("e2e-revoked")
    with live_server.client(secret) as client:
        assert client.get("/v1/languages").status_code == 200
        live_server.store.revoke_key("e2e-revoked")  # as `sandbox keys revoke` does, from another process
        time.sleep(1.1)  # keys are cached for at most a second
        assert_problem(client.get("/v1/languages"), 401, "rejected")


def test_validation_denial_and_syntax_error(api) -> None:
    body = assert_problem(run(api, "import subprocess"), 422, "validation_rejected")
    assert body["findings"][0]["rule_id"] == "import.denied"
    body = assert_problem(run(api, "def f(:\n  pass"), 422, "syntax_error")
    assert body["findings"][0]["line"] == 1


def test_bad_input_is_a_precise_client_error(api) -> None:
    body = assert_problem(run(api, "print(1)", network=True), 422, "rejected")
    assert body["errors"][0]["loc"] == ["body", "network"]
    body = assert_problem(run(api, "print(1)", limits={"wall_time_s": 90}), 400, "rejected")
    assert body["detail"] == "wall_time_s=90 exceeds the server maximum 60"
    assert_problem(run(api, "print(1)", language="cobol"), 400, "rejected")
    assert_problem(
        api.post("/v1/executions", content=b"{not json", headers={"content-type": "application/json"}), 422, "rejected"
    )
    huge_int = b'{"code": "print(1)", "limits": {"memory_mb": 1' + b"0" * 100_000 + b"}}"
    response = post_raw(api, huge_int)
    assert 400 <= response.status_code < 500 and response.headers["content-type"] == PROBLEM
    deep = b'{"code": "x", "args": ' + b"[" * 200 + b"]" * 200 + b"}"
    assert_problem(
        api.post("/v1/executions", content=deep, headers={"content-type": "application/json"}), 422, "rejected"
    )
    assert_problem(api.get("/v1/executions/nope"), 404, "rejected")


def test_413_by_content_length_and_while_streaming(live_server, api) -> None:
    cap = live_server.settings.max_body_bytes
    big = json.dumps({"code": "x" * (cap + 10)}).encode()
    assert_problem(
        api.post("/v1/executions", content=big, headers={"content-type": "application/json"}), 413, "rejected"
    )

    def chunks():
        yield b'{"code": "'
        for _ in range(cap // 65536 + 2):
            yield b"x" * 65536
        yield b'"}'

    response = post_raw(api, chunks())
    assert_problem(response, 413, "rejected")


def test_payload_cap_of_code_and_files(live_server, api) -> None:
    cap = live_server.settings.request_bytes
    body = assert_problem(run(api, "#" * (cap + 1)), 413, "rejected")
    assert str(cap) in body["detail"]


def test_async_execution_then_result(api) -> None:
    response = api.post("/v1/executions?wait=false", json={"code": "import time\ntime.sleep(0.5)\nprint('late')"})
    assert response.status_code == 202 and response.json()["state"] == "running"
    execution_id = response.json()["id"]
    deadline = time.monotonic() + 30
    while (record := api.get(f"/v1/executions/{execution_id}").json())["state"] != "done":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert record["stdout"] == "late\n" and record["status"] == "ok"


def test_events_arrive_in_order_then_the_result(api) -> None:
    code = "import sys, time\nfor i in range(3):\n    print(i, flush=True)\n    time.sleep(0.2)\n"
    code += "print('E', file=sys.stderr)"
    execution_id = api.post("/v1/executions?wait=false", json={"code": code}).json()["id"]
    events = []
    with api.stream("GET", f"/v1/executions/{execution_id}/events") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        kind = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                events.append((kind, json.loads(line[6:])))
    assert [e for e in events if e[0] == "stdout"] == [("stdout", "0\n"), ("stdout", "1\n"), ("stdout", "2\n")]
    assert ("stderr", "E\n") in events
    assert events[-1][0] == "result" and events[-1][1]["status"] == "ok"


def test_disconnecting_from_events_does_not_stop_the_execution(api) -> None:
    code = "import time\nprint('a', flush=True)\ntime.sleep(0.6)\nprint('b')"
    execution_id = api.post("/v1/executions?wait=false", json={"code": code}).json()["id"]
    with api.stream("GET", f"/v1/executions/{execution_id}/events") as response:
        next(response.iter_lines())  # one line, then hang up
    deadline = time.monotonic() + 30
    while (record := api.get(f"/v1/executions/{execution_id}").json())["state"] != "done":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert record["stdout"] == "a\nb\n"


def test_cancel_kills_the_container(live_server, api, docker_client) -> None:
    code = "import time\nprint('up', flush=True)\ntime.sleep(60)"
    execution_id = api.post("/v1/executions?wait=false", json={"code": code}).json()["id"]
    with api.stream("GET", f"/v1/executions/{execution_id}/events") as response:
        for line in response.iter_lines():
            if line.startswith("data:"):
                break
    owner = live_server.settings.owner
    started = time.monotonic()
    record = api.post(f"/v1/executions/{execution_id}/cancel").json()
    assert record["status"] == "killed" and record["stdout"] == "up\n"
    # Only idle warm containers remain: none still runs a program (more than its runner).
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


def test_executions_are_listed_per_key(live_server, api) -> None:
    other = live_server.key("e2e-other")
    with live_server.client(other) as client:
        mine = run(client, "print('other')").json()["id"]
        page = client.get("/v1/executions").json()
        assert [item["id"] for item in page["items"]] == [mine] and page["total"] == 1
        assert_problem(client.get(f"/v1/executions/{run(api, 'print(1)').json()['id']}"), 404, "rejected")
    assert mine not in [item["id"] for item in api.get("/v1/executions?limit=200").json()["items"]]


def test_a_key_cannot_use_a_looser_policy(live_server) -> None:
    strict = live_server.key("e2e-strict", policy="strict")
    with live_server.client(strict) as client:
        assert run(client, "print(1)").json()["policy"] == "strict"
        body = assert_problem(run(client, "print(1)", policy="permissive"), 400, "rejected")
        assert "looser" in body["detail"]


def test_rate_limit_answers_429_with_retry_after(live_server) -> None:
    limited = live_server.key("e2e-limited", rate=2)
    with live_server.client(limited) as client:
        assert run(client, "print(1)").status_code == 200
        assert run(client, "print(2)").status_code == 200
        response = run(client, "print(3)")
        assert_problem(response, 429, "rejected")
        assert int(response.headers["retry-after"]) >= 1


def test_thirty_two_concurrent_clients(live_server, api) -> None:
    def one(i: int) -> tuple[int, dict]:
        with live_server.client(api.headers["Authorization"].split()[1]) as client:
            return i, run(client, f"print({i} * 2)").json()

    with ThreadPoolExecutor(32) as pool:
        results = dict(pool.map(one, range(32)))
    assert {i: r.get("stdout") for i, r in results.items()} == {i: f"{i * 2}\n" for i in range(32)}
    assert len({r["id"] for r in results.values()}) == 32


def test_languages_and_policies(api) -> None:
    assert {"python", "bash"} <= {entry["name"] for entry in api.get("/v1/languages").json()}
    names = [entry["name"] for entry in api.get("/v1/policies").json()]
    assert names == ["permissive", "standard", "strict"]


def test_validate_only(api) -> None:
    report = api.post("/v1/validate", json={"code": "import os\nos.system('x')"}).json()
    assert report["allowed"] is False and report["status"] == "validation_rejected"
    assert api.post("/v1/validate", json={"code": "print(1)"}).json()["allowed"] is True


def test_audit_log_records_security_events(live_server) -> None:
    events = {e["event"] for e in live_server.store.audit_events(500)}
    assert {"key.created", "auth.failed", "execution.rejected"} <= events


LANGUAGE_FIELDS = {
    "name", "aliases", "main_file", "description", "extensions", "compiled", "compile_command",
    "run_command", "version", "packages", "built",
}  # fmt: skip


def test_languages_say_how_each_is_compiled_and_run_and_which_version(api) -> None:
    entries = {entry["name"]: entry for entry in api.get("/v1/languages").json()}
    assert {"python", "bash", "javascript", "typescript", "c", "cpp", "go", "java", "rust"} <= set(entries)
    for name, entry in entries.items():
        assert set(entry) == LANGUAGE_FIELDS, name
        # scripts/test builds every image; each carries the version its build probed.
        assert entry["built"] is True and entry["version"], name
        assert entry["compiled"] == (entry["compile_command"] is not None), name
        assert entry["packages"] and entry["run_command"], name
    c, python = entries["c"], entries["python"]
    assert c["compiled"] and c["compile_command"][0] == "gcc" and "main.c" in c["compile_command"]
    assert c["run_command"] == ["./main"] and c["extensions"] == [".c"] and "gcc" in c["version"]
    assert not python["compiled"] and python["compile_command"] is None and python["version"].startswith("Python 3")
    assert entries["java"]["main_file"] == "Main.java" and "openjdk" in entries["java"]["version"]
