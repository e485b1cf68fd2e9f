"""Secrets end to end, real engine and real store: set over REST, used by runs and sessions, redacted
in the response, the event stream, MCP progress and the stored record; invisible to `docker inspect`,
the host's process list and the database file; another key's secrets are not there for it."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.mcp_clients import connect

pytestmark = pytest.mark.anyio
MARK = "[REDACTED:API_KEY]"


def new_value() -> str:
    return "sk-test-" + secrets.token_urlsafe(24)


@pytest.fixture(scope="module")
def owner(live_server) -> str:
    return live_server.key("e2e-secrets")


@pytest.fixture(scope="module")
def api(live_server, owner) -> Iterator[httpx.Client]:
    with live_server.client(owner) as client:
        yield client


@pytest.fixture(scope="module")
def value(api) -> str:
    secret = new_value()
    assert api.put("/v1/secrets/API_KEY", json={"value": secret}).status_code in (200, 201)
    return secret


def forms(value: str) -> list[str]:
    raw = value.encode()
    return [value, base64.b64encode(raw).decode(), raw.hex()]


def assert_clean(text: str, value: str) -> None:
    for form in forms(value):
        assert form not in text, f"{form!r} leaked"


PRINTS = (
    "import os, sys, base64, time\n"
    "v = os.environ['API_KEY']\n"
    "print(v)\n"
    "print(base64.b64encode(v.encode()).decode(), v.encode().hex())\n"
    "half = len(v) // 2\n"
    "sys.stdout.write(v[:half]); sys.stdout.flush(); time.sleep(0.3)\n"  # two chunks, one value
    "sys.stdout.write(v[half:] + '\\n'); sys.stdout.flush()\n"
    "print(os.environ['MODE'])\n"
    "raise RuntimeError(v)\n"
)


def test_a_run_gets_its_secret_and_everything_back_is_redacted(api, value) -> None:
    ran = api.post("/v1/executions", json={"code": PRINTS, "secrets": ["API_KEY"], "env": {"MODE": "plain"}})
    assert ran.status_code == 200, ran.text
    body = ran.json()
    assert body["status"] == "runtime_error" and body["secrets"] == {"API_KEY": 1}
    assert_clean(ran.text, value)
    lines = body["stdout"].splitlines()
    assert lines == [MARK, f"{MARK} {MARK}", MARK, "plain"], body["stdout"]  # the halves joined and caught
    assert f"RuntimeError: {MARK}" in body["stderr"]
    stored = api.get(f"/v1/executions/{body['id']}")
    assert_clean(stored.text, value)
    assert stored.json()["stdout"] == body["stdout"]


def test_the_event_stream_is_redacted_even_for_a_value_split_across_chunks(api, value) -> None:
    started = api.post("/v1/executions?wait=false", json={"code": PRINTS, "secrets": ["API_KEY"], "env": {"MODE": "x"}})
    assert started.status_code == 202, started.text
    stream = api.get(f"/v1/executions/{started.json()['id']}/events")
    assert_clean(stream.text, value)
    chunks = [json.loads(line[6:]) for line in stream.text.splitlines() if line.startswith("data: ")]
    joined = "".join(c for c in chunks if isinstance(c, str))
    assert joined.count(MARK) >= 4, joined  # stdout: 4; the traceback on stderr may add one


async def test_mcp_progress_and_result_are_redacted(live_server, owner, value, tmp_path: Path) -> None:
    seen: list[str] = []

    async def progress(_value, _total, message) -> None:
        seen.append(message or "")

    async with connect("http", live_server, owner, tmp_path) as client:
        result = await client.call_tool(
            "execute", {"code": PRINTS, "secrets": ["API_KEY"], "env": {"MODE": "m"}}, progress_callback=progress
        )
    assert seen, "no progress came"
    assert_clean("\n".join(seen), value)
    assert_clean(json.dumps(result.model_dump(mode="json")), value)
    assert result.structured_content["stdout"].count(MARK) == 4


def test_a_session_holds_its_secrets_and_its_cells_are_redacted(api, value) -> None:
    opened = api.post("/v1/sessions", json={"secrets": ["API_KEY"]})
    assert opened.status_code == 201, opened.text
    sid = opened.json()["id"]
    try:
        cell = api.post(f"/v1/sessions/{sid}/executions", json={"code": "import os\nprint(os.environ['API_KEY'])"})
        assert cell.status_code == 200, cell.text
        assert cell.json()["stdout"] == MARK + "\n" and cell.json()["secrets"] == {"API_KEY": 1}
        assert_clean(cell.text, value)
        wrote = api.post(
            f"/v1/sessions/{sid}/executions",
            json={"code": "import os\nopen('k.txt', 'w').write(os.environ['API_KEY'])"},
        )
        assert wrote.json()["status"] == "ok", wrote.text
        read = api.get(f"/v1/sessions/{sid}/files/k.txt")
        assert read.status_code == 200 and read.content == MARK.encode(), read.content
    finally:
        api.delete(f"/v1/sessions/{sid}")


def test_no_trace_in_docker_inspect_the_process_list_or_the_database(live_server, api, value, docker_client) -> None:
    started = api.post(
        "/v1/executions?wait=false",
        json={"code": "import time, os\nassert os.environ['API_KEY']\ntime.sleep(4)", "secrets": ["API_KEY"]},
    )
    assert started.status_code == 202, started.text
    owner = live_server.settings.owner
    inspected: list[str] = []
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and len(inspected) < 3:
        for c in docker_client.api.containers(filters={"label": f"io.sandbox.owner={owner}", "status": "running"}):
            inspected.append(json.dumps(docker_client.api.inspect_container(c["Id"])))
        time.sleep(0.2)
    assert inspected, "no running container to inspect"
    for text in inspected:
        assert_clean(text, value)
    cmdlines = []
    for path in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            cmdlines.append(path.read_bytes().decode(errors="replace"))
        except OSError:
            continue
    assert_clean("\n".join(cmdlines), value)
    done = api.get(f"/v1/executions/{started.json()['id']}")
    deadline = time.monotonic() + 30
    while done.json()["state"] != "done" and time.monotonic() < deadline:
        time.sleep(0.2)
        done = api.get(f"/v1/executions/{started.json()['id']}")
    assert done.json()["status"] == "ok", done.text
    state = live_server.settings.state_dir
    stored = b"".join(p.read_bytes() for p in state.iterdir() if p.name.startswith("sandbox.db"))
    for form in forms(value):
        assert form.encode() not in stored, f"{form!r} is in the database files"


def test_another_key_cannot_list_use_or_delete_the_secret(live_server, api, value) -> None:
    with live_server.client(live_server.key("e2e-secrets-other")) as other:
        assert other.get("/v1/secrets").json() == []
        refused = other.post("/v1/executions", json={"code": "print(1)", "secrets": ["API_KEY"]})
        assert refused.status_code == 400 and "API_KEY" in refused.json()["message"], refused.text
        assert other.delete("/v1/secrets/API_KEY").status_code == 404
    assert [s["name"] for s in api.get("/v1/secrets").json()] == ["API_KEY"]


def test_replacing_a_value_makes_a_new_version_that_the_next_run_records(api) -> None:
    first, second = new_value(), new_value()
    assert api.put("/v1/secrets/ROTATING", json={"value": first}).status_code == 201
    assert api.put("/v1/secrets/ROTATING", json={"value": second}).json()["version"] == 2
    ran = api.post(
        "/v1/executions", json={"code": "import os; print(os.environ['ROTATING'])", "secrets": ["ROTATING"]}
    ).json()
    assert ran["secrets"] == {"ROTATING": 2} and ran["stdout"] == "[REDACTED:ROTATING]\n"


def test_concurrent_runs_each_get_their_own_key_s_value(live_server) -> None:
    """Two keys, same secret name, different values, at once: each run sees only its own."""
    keys = [live_server.key(f"e2e-secrets-par-{i}") for i in range(2)]
    values = [new_value() for _ in keys]
    answers: list[dict] = [{}, {}]

    def go(i: int) -> None:
        with live_server.client(keys[i]) as c:
            c.put("/v1/secrets/SHARED", json={"value": values[i]})
            code = "import os, hashlib; print(hashlib.sha256(os.environ['SHARED'].encode()).hexdigest())"
            answers[i] = c.post("/v1/executions", json={"code": code, "secrets": ["SHARED"]}).json()

    threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for i in range(2):
        assert answers[i]["stdout"].strip() == hashlib.sha256(values[i].encode()).hexdigest(), answers[i]
