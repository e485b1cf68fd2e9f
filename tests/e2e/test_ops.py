"""``GET /v1/ops`` end to end: a live uvicorn, real containers from a real warm pool, a real SQLite file.

Programs that end ok, with a runtime error, at their wall time, and one denied by
validation; then the snapshot must count each, show the python pool with the runs
it served, list the failures newest first with the key's name, and refuse keys
without the ops permission.
"""

from __future__ import annotations

import time

import httpx
import pytest


@pytest.fixture(scope="module")
def user(live_server) -> httpx.Client:
    with live_server.client(live_server.key("e2e-ops-user")) as client:
        yield client


@pytest.fixture(scope="module")
def operator(live_server) -> httpx.Client:
    plaintext = live_server.store.create_key("e2e-operator", "standard", 4, 1000, ops=True)[1]
    with live_server.client(plaintext) as client:
        yield client


def snapshot(operator: httpx.Client) -> dict:
    response = operator.get("/v1/ops")
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    return response.json()


def settled(operator: httpx.Client, totals: dict[str, int]) -> dict:
    """The first snapshot whose totals are ``totals``: a record is written just after its result is sent."""
    deadline = time.monotonic() + 10
    seen = snapshot(operator)
    while seen["executions"]["totals"] != totals and time.monotonic() < deadline:
        time.sleep(0.05)
        seen = snapshot(operator)
    return seen


def test_the_snapshot_counts_real_runs_pools_and_failures(live_server, user: httpx.Client, operator) -> None:
    before = snapshot(operator)
    deadline = time.monotonic() + 60
    while before["pools"] and before["pools"][0]["ready"] < 2 and time.monotonic() < deadline:
        time.sleep(0.1)  # the pool fills after start: the first run should find it warm
        before = snapshot(operator)
    assert before["executions"]["totals"] == {} and before["recent_failures"] == []
    (pool,) = before["pools"]
    assert pool["ready"] == 2
    assert pool["language"] == "python" and pool["name"].startswith("sandbox-python:")
    assert (pool["target"], pool["minimum"], pool["maximum"]) == (2, 2, 12)
    served_before = pool["hits"] + pool["misses"]

    results = {}
    for name, body in (
        ("ok", {"code": "print('fine')"}),
        ("runtime_error", {"code": "raise SystemExit(3)"}),
        ("timeout", {"code": "while True:\n    pass", "limits": {"wall_time_s": 1}}),
    ):
        response = user.post("/v1/executions", json=body)
        assert response.status_code == 200, response.text
        results[name] = response.json()
        assert results[name]["status"] == name
    denied = user.post("/v1/executions", json={"code": "import subprocess\nsubprocess.run(['id'])"})
    assert denied.status_code == 422 and denied.json()["code"] == "validation_rejected"

    expected = {"ok": 1, "runtime_error": 1, "timeout": 1, "validation_rejected": 1}
    after = settled(operator, expected)

    assert after["engine"]["status"] == "ok" and after["engine"]["ready"] is True
    assert after["engine"]["breaker"] == "closed" and after["engine"]["runtime"] in ("runc", "runsc")
    assert after["version"] and ":" in after["instance"]
    assert after["running"] == 0 and after["sessions"] == {"open": 0}
    assert after["executions"]["totals"] == expected
    per_minute = after["executions"]["per_minute"]
    assert 1 <= len(per_minute) <= 2  # the runs took a few seconds: one minute, or two across its end
    summed: dict[str, int] = {}
    for bucket in per_minute:
        for status, count in bucket["counts"].items():
            summed[status] = summed.get(status, 0) + count
    assert summed == expected
    assert [b["minute"] for b in per_minute] == sorted(b["minute"] for b in per_minute)

    (pool,) = after["pools"]
    assert pool["hits"] + pool["misses"] - served_before == 3  # every run went through the python pool
    assert pool["hits"] >= 1  # the pool was warm for the first run at least
    assert pool["failures"] == 0 and pool["created"] >= 2

    latency = after["latency_ms"]
    assert latency["count"] == 3 and latency["window_minutes"] == 60
    walls = sorted(float(r["wall_ms"]) for r in results.values())
    assert latency["program_wall"]["p50"] == walls[1]  # the middle one of three, exactly
    assert walls[1] < latency["program_wall"]["p99"] <= walls[2] and walls[2] >= 1000  # the timeout's whole second
    end_to_end = latency["end_to_end"]
    assert end_to_end["p50"] <= end_to_end["p90"] <= end_to_end["p99"] and end_to_end["p99"] >= 0.9 * walls[2]

    failures = after["recent_failures"]
    assert [(f["id"], f["status"]) for f in failures] == [
        (results["timeout"]["id"], "timeout"),
        (results["runtime_error"]["id"], "runtime_error"),
    ]
    assert {f["key"] for f in failures} == {"e2e-ops-user"} and {f["language"] for f in failures} == {"python"}
    assert failures[0]["message"] == results["timeout"]["message"] and len(failures[0]["message"]) <= 300


def test_in_flight_executions_and_open_sessions_are_shown(live_server, user: httpx.Client, operator) -> None:
    started = user.post("/v1/executions?wait=false", json={"code": "import time\ntime.sleep(30)"})
    assert started.status_code == 202, started.text
    session = user.post("/v1/sessions", json={})
    assert session.status_code == 201, session.text
    try:
        deadline = time.monotonic() + 20
        seen = snapshot(operator)
        while seen["running"] != 1 and time.monotonic() < deadline:
            time.sleep(0.1)
            seen = snapshot(operator)
        assert seen["running"] == 1 and seen["sessions"] == {"open": 1}
    finally:
        user.post(f"/v1/executions/{started.json()['id']}/cancel")
        user.delete(f"/v1/sessions/{session.json()['id']}")
    deadline = time.monotonic() + 20
    seen = snapshot(operator)
    while (seen["running"], seen["sessions"]["open"]) != (0, 0) and time.monotonic() < deadline:
        time.sleep(0.1)
        seen = snapshot(operator)
    assert seen["running"] == 0 and seen["sessions"] == {"open": 0}


def test_a_key_without_the_ops_permission_gets_403_and_no_key_401(live_server, user: httpx.Client) -> None:
    forbidden = user.get("/v1/ops")
    assert forbidden.status_code == 403 and forbidden.headers["content-type"] == "application/problem+json"
    problem = forbidden.json()
    assert problem["code"] == "rejected" and "ops permission" in problem["message"]
    assert "--ops" in problem["message"]
    with live_server.client() as anonymous:
        missing = anonymous.get("/v1/ops")
    assert missing.status_code == 401 and missing.json()["code"] == "rejected"
