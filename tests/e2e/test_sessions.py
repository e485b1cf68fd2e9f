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
    assert api.get(f"/v1/sessions/{sid}/files/missing").status_code == 400
    api.delete(f"/v1/sessions/{sid}")


def test_validation_applies_to_every_cell(api) -> None:
    sid = open_session(api)
    response = cell(api, sid, "import subprocess")
    assert response.status_code == 422 and response.json()["code"] == "validation_rejected"
    assert cell(api, sid, "print('still open')").json()["stdout"] == "still open\n"
    api.delete(f"/v1/sessions/{sid}")


def test_a_timeout_ends_the_session_and_removes_its_container(live_server, api, docker_client) -> None:
    sid = open_session(api)
    body = cell(api, sid, "import time\ntime.sleep(30)", wall_time_s=1).json()
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
