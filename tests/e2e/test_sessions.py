"""Sessions over REST: state persists between calls, files round-trip, limits end a session, TTLs close it."""

from __future__ import annotations

import time

import pytest


@pytest.fixture(scope="module")
def api(live_server):
    with live_server.client(live_server.key("e2e-sessions")) as client:
        yield client


def open_session(api, **body) -> str:
    response = api.post("/v1/sessions", json=body)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def cell(api, session_id: str, code: str, **limits):
    return api.post(f"/v1/sessions/{session_id}/executions", json={"code": code, "limits": limits})


def test_state_persists_between_calls(api) -> None:
    sid = open_session(api)
    assert cell(api, sid, "import numpy as np\nx = np.arange(4)").json()["status"] == "ok"
    assert cell(api, sid, "x = x * 10").json()["status"] == "ok"
    body = cell(api, sid, "print(x.tolist())").json()
    assert (body["status"], body["stdout"]) == ("ok", "[0, 10, 20, 30]\n")
    failed = cell(api, sid, "raise KeyError('k')").json()
    assert failed["status"] == "runtime_error" and "KeyError: 'k'" in failed["stderr"]
    assert cell(api, sid, "print(len(x))").json()["stdout"] == "4\n"  # an exception does not end the session
    info = api.get(f"/v1/sessions/{sid}").json()
    assert info["state"] == "open" and info["executions"] == 5
    assert api.delete(f"/v1/sessions/{sid}").status_code == 204
    closed = api.get(f"/v1/sessions/{sid}").json()  # the record outlives the container
    assert (closed["state"], closed["closed_reason"], closed["executions"]) == ("closed", "closed by the caller", 5)
    assert cell(api, sid, "print(1)").status_code == 404


def test_files_round_trip_including_binary_and_symlinks_refused(api) -> None:
    sid = open_session(api, files=[{"path": "seed.txt", "content": "seed"}])
    blob = bytes(range(256)) * 64
    assert api.put(f"/v1/sessions/{sid}/files/data/blob.bin", content=blob).status_code == 204
    code = "d = open('data/blob.bin','rb').read()\nopen('out.bin','wb').write(d[::-1])\nprint(open('seed.txt').read())"
    assert cell(api, sid, code).json()["stdout"] == "seed\n"
    out = api.get(f"/v1/sessions/{sid}/files/out.bin")
    assert out.status_code == 200 and out.content == blob[::-1]
    assert (
        cell(api, sid, "import os\nos.symlink('/etc/passwd', 'link')\nos.symlink('/etc', 'dir')").json()["status"]
        == "ok"
    )
    assert api.get(f"/v1/sessions/{sid}/files/link").status_code == 400
    assert api.get(f"/v1/sessions/{sid}/files/dir/passwd").status_code == 400
    assert api.put(f"/v1/sessions/{sid}/files/dir/x", content=b"x").status_code == 400
    assert api.put(f"/v1/sessions/{sid}/files/..%2Fetc%2Fx", content=b"x").status_code in (400, 404)
    assert api.get(f"/v1/sessions/{sid}/files/missing").status_code == 404
    api.delete(f"/v1/sessions/{sid}")


def test_validation_applies_to_every_cell(api) -> None:
    sid = open_session(api)
    response = cell(api, sid, "import subprocess")
    assert response.status_code == 422 and response.json()["code"] == "validation_rejected"
    assert cell(api, sid, "print('still open')").json()["stdout"] == "still open\n"
    api.delete(f"/v1/sessions/{sid}")


def test_a_timeout_ends_the_session_and_removes_its_container(live_server, api, docker_client) -> None:
    sid = open_session(api)
    # A cell that ignores its interrupt (one that stops when interrupted keeps its session).
    body = cell(
        api, sid, "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(30)", wall_time_s=1
    ).json()
    assert body["status"] == "timeout" and "session has ended" in body["message"]
    assert api.get(f"/v1/sessions/{sid}").json()["closed_reason"] == "ended by a call (timeout)"
    owner = live_server.settings.owner
    deadline = time.monotonic() + 10
    while [
        c
        for c in docker_client.api.containers(all=True, filters={"label": f"io.sandbox.owner={owner}"})
        if c["Labels"].get("io.sandbox.kind") == "session"
    ]:
        assert time.monotonic() < deadline, "the session's container was left"
        time.sleep(0.1)


def test_idle_sessions_close(api) -> None:
    sid = open_session(api, idle_ttl_s=1)
    time.sleep(3)
    info = api.get(f"/v1/sessions/{sid}").json()
    assert (info["state"], info["closed_reason"]) == ("closed", "idle")


def test_a_session_belongs_to_its_key(live_server, api) -> None:
    sid = open_session(api)
    with live_server.client(live_server.key("e2e-sessions-other")) as other:
        assert other.get(f"/v1/sessions/{sid}").status_code == 404
        assert cell(other, sid, "print(1)").status_code == 404
        assert other.delete(f"/v1/sessions/{sid}").status_code == 404
    api.delete(f"/v1/sessions/{sid}")


def test_session_requests_are_checked(api) -> None:
    assert api.post("/v1/sessions", json={"language": "bash"}).status_code == 400
    assert api.post("/v1/sessions", json={"idle_ttl_s": 10**6}).status_code == 400
    assert api.post("/v1/sessions", json={"network": True}).status_code == 422


def test_a_cell_is_an_execution_with_its_own_record(api) -> None:
    sid = open_session(api)
    body = cell(api, sid, "print(6 * 7)").json()
    assert (body["status"], body["state"], body["session_id"], body["stdout"]) == ("ok", "done", sid, "42\n")
    stored = api.get(f"/v1/executions/{body['id']}")
    assert stored.status_code == 200 and stored.json()["session_id"] == sid and stored.json()["stdout"] == "42\n"
    listed = [item["id"] for item in api.get("/v1/executions", params={"limit": 20}).json()["items"]]
    assert body["id"] in listed
    api.delete(f"/v1/sessions/{sid}")


def test_cells_count_against_the_keys_rate_limit(live_server) -> None:
    with live_server.client(live_server.key("e2e-sessions-rate", rate=4)) as client:
        sid = open_session(client)  # opening takes the first of the four tokens
        answers = [cell(client, sid, "print(1)") for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert answers[-1].json()["code"] == "rejected" and int(answers[-1].headers["retry-after"]) >= 1
        client.delete(f"/v1/sessions/{sid}")


def test_a_cells_cpu_limit_is_enforced(api) -> None:
    sid = open_session(api)
    body = cell(api, sid, "while True:\n    pass", cpu_time_s=1, wall_time_s=20).json()
    assert body["status"] == "cpu_time_exceeded", body
    assert body["wall_ms"] < 10_000


def test_a_python_file_written_into_a_session_is_validated(api) -> None:
    sid = open_session(api)
    denied = api.put(f"/v1/sessions/{sid}/files/helper.py", content=b"import subprocess\n")
    assert denied.status_code == 422 and denied.json()["code"] == "validation_rejected"
    assert denied.json()["findings"][0]["file"] == "helper.py"
    assert api.get(f"/v1/sessions/{sid}/files/helper.py").status_code == 404, "a denied file is not written"
    assert api.put(f"/v1/sessions/{sid}/files/mod.pyc", content=b"\x00\x01").status_code == 422
    assert api.put(f"/v1/sessions/{sid}/files/helper.py", content=b"def f():\n    return 7\n").status_code == 204
    assert cell(api, sid, "import helper\nprint(helper.f())").json()["stdout"] == "7\n"
    api.delete(f"/v1/sessions/{sid}")


def test_a_cell_cannot_change_what_the_container_fixed(api) -> None:
    sid = open_session(api, limits={"memory_mb": 128})
    refused = cell(api, sid, "print(1)", memory_mb=256)
    assert refused.status_code == 400 and "fixed when it opens" in refused.json()["message"]
    assert cell(api, sid, "print(1)", memory_mb=128).json()["status"] == "ok"
    api.delete(f"/v1/sessions/{sid}")
