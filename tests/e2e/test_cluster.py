"""The local cluster end to end: two `sandbox serve` replicas and two `sandbox worker`s on one real
PostgreSQL and one real Redis (``sandbox.cluster.local.LocalCluster``, what ``scripts/cluster up`` runs).

Any replica serves any request: an execution started through one is followed through the other, a
session opened through one is used and closed through the other, a key's rate is shared by both.
A worker killed mid-run ends its run as ``capacity_unavailable`` (never run twice) and the other
worker takes the new work; Redis or PostgreSQL down gives 503 + Retry-After, and their return heals.
The tests run in file order on one module-wide cluster; the outage tests restore what they stop.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import httpx
import pytest

from sandbox.cluster.local import LocalCluster, Member
from sandbox.store import Store
from tests.conftest import TEST_IMAGE_PREFIX, TEST_RUNTIME
from tests.e2e.serving import owned

PROBLEM = "application/problem+json"
#: Seconds a worker may stay silent before it is dead (the setting), and the tests' margin on top.
DEAD_AFTER_S = 3.0
MARGIN_S = 12.0
#: Prints a line as soon as it runs, then sleeps past every deadline of the test.
SLEEPER = "import time\nprint('started', flush=True)\ntime.sleep(30)\n"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, docker_client: docker.DockerClient) -> Iterator[LocalCluster]:
    settings: dict[str, object] = {
        "pool_size": 1,  # two cores: one warm container per worker is enough
        "validation_workers": 1,
        "janitor_interval_s": 1,
        "worker_heartbeat_s": 0.5,
        "worker_dead_after_s": DEAD_AFTER_S,
        "shutdown_grace_s": 5,
        "log_level": "info",
    }
    if TEST_RUNTIME:
        settings["runtime"] = TEST_RUNTIME
    if TEST_IMAGE_PREFIX:
        settings["image_prefix"] = TEST_IMAGE_PREFIX
    local = LocalCluster(tmp_path_factory.mktemp("cluster"), settings, inherit_env=False)
    try:
        local.up(replicas=2, workers=2)
        yield local
    finally:
        owners = local.owners() if local.layout() else []
        left = local.down(grace_s=20)
        for owner in owners:  # down removed them; nothing may be listed after it
            assert not owned(docker_client, owner), f"{owner} still has containers after down"
        local.postgres().remove()
    assert not left, f"the cluster left containers behind: {left}"


@pytest.fixture(scope="module")
def replicas(cluster: LocalCluster) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """Replica A and replica B, authenticated with the cluster's key."""
    headers = {"Authorization": f"Bearer {cluster.key()}"}
    first, second = cluster.replicas()
    with (
        httpx.Client(base_url=first.url, headers=headers, timeout=60) as a,
        httpx.Client(base_url=second.url, headers=headers, timeout=60) as b,
    ):
        yield a, b


def read_events(response: httpx.Response) -> list[tuple[str, object]]:
    """(kind, data) of each event of an open text/event-stream answer, to its end."""
    got: list[tuple[str, object]] = []
    fields: dict[str, str] = {}
    for line in response.iter_lines():
        if line:
            name, _, value = line.partition(": ")
            fields[name] = value
        elif fields:
            got.append((fields["event"], json.loads(fields["data"])))
            fields = {}
    return got


def wait_for(check, timeout_s: float, what: str, interval_s: float = 0.25):  # type: ignore[no-untyped-def]
    """``check()``'s first truthy value within ``timeout_s``; fails naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval_s)
    raise AssertionError(f"{what} within {timeout_s:g} s (last: {last!r})")


def run_ok(client: httpx.Client, code: str = "print('hi')") -> dict:
    response = client.post("/v1/executions", json={"code": code})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok", body
    return dict(body)


@pytest.mark.timeout(300)  # the module's cluster starts in this test's time
def test_up_is_idempotent_and_status_names_every_member(cluster: LocalCluster) -> None:
    before = {m.name: m.pid for m in cluster.layout().members}  # type: ignore[union-attr]
    cluster.up(replicas=2, workers=2)
    after = {m.name: m.pid for m in cluster.layout().members}  # type: ignore[union-attr]
    assert before == after and set(after) == {"replica-1", "replica-2", "worker-1", "worker-2"}
    status = cluster.status()
    assert [r["url"] for r in status["replicas"]] == [m.url for m in cluster.replicas()]
    assert all(member["alive"] for member in status["replicas"] + status["workers"]), status
    assert status["postgres"]["running"] and status["redis"]["running"]
    assert status["key"] == cluster.key() and cluster.key_file.stat().st_mode & 0o777 == 0o600


def test_an_execution_started_through_one_replica_is_followed_through_the_other(replicas) -> None:
    a, b = replicas
    started = a.post("/v1/executions?wait=false", json={"code": "print('one')\nprint('two')"})
    assert started.status_code == 202, started.text
    execution_id = started.json()["id"]
    with b.stream("GET", f"/v1/executions/{execution_id}/events") as response:
        assert response.status_code == 200, response.read()
        got = read_events(response)
    kinds = [kind for kind, _ in got]
    assert kinds[-1] == "result" and "stdout" in kinds and kinds.index("stdout") < len(kinds) - 1, got
    assert "".join(str(data) for kind, data in got if kind == "stdout") == "one\ntwo\n"
    result = got[-1][1]
    assert isinstance(result, dict) and result["status"] == "ok"
    record = wait_for(  # the result event may reach B a moment before the record is written
        lambda: (r := b.get(f"/v1/executions/{execution_id}")).status_code == 200 and r.json()["state"] == "done" and r,
        10,
        "the record was not readable through B",
    )
    assert record.json()["id"] == execution_id and record.json()["status"] == "ok"
    assert record.json()["stdout"] == "one\ntwo\n"


def test_a_session_is_one_session_whichever_replica_is_asked(replicas) -> None:
    a, b = replicas
    opened = a.post("/v1/sessions", json={})
    assert opened.status_code == 201, opened.text
    session = opened.json()["id"]
    cell = a.post(f"/v1/sessions/{session}/executions", json={"code": "x = 41"})
    assert cell.status_code == 200 and cell.json()["status"] == "ok", cell.text
    cell = b.post(f"/v1/sessions/{session}/executions", json={"code": "x += 1\nprint(x)"})
    assert cell.status_code == 200 and cell.json()["stdout"] == "42\n", cell.text
    assert a.put(f"/v1/sessions/{session}/files/notes.txt", content=b"written via A").status_code == 204
    read = b.get(f"/v1/sessions/{session}/files/notes.txt")
    assert read.status_code == 200 and read.content == b"written via A", read.text
    assert b.delete(f"/v1/sessions/{session}").status_code == 204
    after = a.post(f"/v1/sessions/{session}/executions", json={"code": "print(x)"})
    assert after.status_code in (404, 409, 410), after.text  # closed for every replica


def test_a_replica_that_stops_closes_no_session(cluster: LocalCluster, replicas) -> None:
    """Replicas are stateless: a rolling restart of the one that opened a session leaves it open on its
    worker, and the other replica goes on serving it."""
    a, b = replicas
    opened = a.post("/v1/sessions", json={})
    assert opened.status_code == 201, opened.text
    session = opened.json()["id"]
    assert a.post(f"/v1/sessions/{session}/executions", json={"code": "x = 7"}).status_code == 200
    cluster.stop_worker("replica-1")  # SIGTERM: the replica drains and stops
    try:
        cell = b.post(f"/v1/sessions/{session}/executions", json={"code": "print(x * 6)"})
        assert cell.status_code == 200 and cell.json()["stdout"] == "42\n", cell.text
    finally:
        cluster.start_member("replica-1")
    assert b.get(f"/v1/sessions/{session}").json()["state"] == "open"
    assert a.delete(f"/v1/sessions/{session}").status_code == 204


def test_a_key_rate_is_shared_by_both_replicas(cluster: LocalCluster, replicas) -> None:
    rate = 4
    store = Store(cluster.database_url)
    try:
        _, key = store.create_key("cluster-rate", "standard", 8, rate)
    finally:
        store.close()
    headers = {"Authorization": f"Bearer {key}"}
    a, b = replicas
    answers = [
        (a if i % 2 == 0 else b).post("/v1/executions", json={"code": "print(1)"}, headers=headers) for i in range(rate)
    ]
    assert [r.status_code for r in answers] == [200] * rate, [r.text for r in answers]
    for client in (a, b):  # the limit is spent for both replicas together, not per replica
        limited = client.post("/v1/executions", json={"code": "print(1)"}, headers=headers)
        assert limited.status_code == 429, limited.text
        assert limited.headers["content-type"].startswith(PROBLEM)
        assert int(limited.headers["Retry-After"]) >= 1


def worker_named(cluster: LocalCluster, name: str) -> Member:
    return next(m for m in cluster.workers() if m.name == name)


@pytest.mark.timeout(240)
def test_a_killed_worker_ends_its_run_and_the_other_worker_takes_the_work(
    cluster: LocalCluster, replicas, docker_client: docker.DockerClient
) -> None:
    a, b = replicas
    victim, survivor = worker_named(cluster, "worker-1"), worker_named(cluster, "worker-2")
    # Only the victim may take the long run: the survivor is stopped until the run has started.
    cluster.stop_worker(survivor.name, grace_s=20)
    try:
        started = a.post("/v1/executions?wait=false", json={"code": SLEEPER})
        assert started.status_code == 202, started.text
        execution_id = started.json()["id"]
        with a.stream("GET", f"/v1/executions/{execution_id}/events") as response:
            assert response.status_code == 200, response.read()
            first = next(line for line in response.iter_lines() if line.startswith("data"))
        assert "started" in first
        opened = a.post("/v1/sessions", json={})  # pinned to the victim too: the only worker alive
        assert opened.status_code == 201, opened.text
        session = opened.json()["id"]
        cell = b.post(f"/v1/sessions/{session}/executions", json={"code": "y = 1"})
        assert cell.status_code == 200 and cell.json()["status"] == "ok", cell.text
    finally:
        cluster.start_member(survivor.name)
    killed_at = time.monotonic()
    cluster.kill_worker(victim.name)
    try:
        record = wait_for(
            lambda: (r := b.get(f"/v1/executions/{execution_id}").json())["state"] == "done" and r,
            DEAD_AFTER_S + MARGIN_S,
            "the killed worker's run did not end",
        )
        assert time.monotonic() - killed_at < DEAD_AFTER_S + MARGIN_S
        assert record["status"] == "capacity_unavailable", record
        assert "worker" in record["message"] and "not run again" in record["message"], record["message"]
        closed = wait_for(
            lambda: (info := b.get(f"/v1/sessions/{session}").json())["state"] == "closed" and info,
            DEAD_AFTER_S + MARGIN_S,
            "the dead worker's session was not closed",
        )
        assert "worker" in closed["closed_reason"], closed
        refused = a.post(f"/v1/sessions/{session}/executions", json={"code": "print(y)"})
        assert refused.status_code in (404, 409, 410), refused.text
        for client in (a, b, a):  # new work goes to the survivor
            assert run_ok(client)["stdout"] == "hi\n"
        wait_for(
            lambda: not owned(docker_client, victim.owner),
            30,
            "the dead worker's containers were not removed by the survivor's janitor",
            interval_s=0.5,
        )
    finally:
        cluster.start_member(victim.name)  # the next tests want two workers again
    assert all(m.alive() for m in cluster.workers())


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith(PROBLEM), response.headers
    assert int(response.headers["Retry-After"]) >= 1
    assert response.json()["code"] == "capacity_unavailable"


@pytest.mark.timeout(180)
def test_redis_down_answers_503_then_the_cluster_recovers(cluster: LocalCluster, replicas) -> None:
    a, b = replicas
    redis = cluster.redis()
    redis.stop()
    try:
        started = time.monotonic()
        response = a.post("/v1/executions", json={"code": "print(1)"}, timeout=30)
        assert_unavailable(response)
        assert time.monotonic() - started < 10, "a Redis outage must be answered within seconds"
    finally:
        redis.start()
    wait_for(
        lambda: b.post("/v1/executions", json={"code": "print(2)"}).status_code == 200,
        30,
        "the cluster did not recover after Redis came back",
        interval_s=0.5,
    )
    assert run_ok(a)["stdout"] == "hi\n" and run_ok(b)["stdout"] == "hi\n"


@pytest.mark.timeout(180)
def test_postgres_down_answers_503_then_the_cluster_recovers(cluster: LocalCluster, replicas) -> None:
    a, b = replicas
    postgres = cluster.postgres()
    postgres.stop()
    try:
        started = time.monotonic()
        for client in (a, b):
            assert_unavailable(client.get("/v1/executions", timeout=30))
        assert time.monotonic() - started < 20, "a PostgreSQL outage must be answered within seconds"
    finally:
        postgres.start()
    wait_for(
        lambda: b.get("/v1/executions").status_code == 200,
        30,
        "the cluster did not recover after PostgreSQL came back",
        interval_s=0.5,
    )
    assert run_ok(a)["stdout"] == "hi\n" and run_ok(b)["stdout"] == "hi\n"


def test_down_stops_every_process_and_leaves_no_container(tmp_path: Path, docker_client: docker.DockerClient) -> None:
    """A cluster of its own, without workers when the code base has none: up, then down, then nothing."""
    local = LocalCluster(tmp_path, {"pool_size": 0, "validation_workers": 1}, inherit_env=False)
    try:
        layout = local.up(replicas=1, workers=1)
        pids = [m.pid for m in layout.members]
        assert pids and all(m.alive() for m in layout.members)
    finally:
        left = local.down(grace_s=20)
    assert not left
    for pid in pids:
        assert not os.path.exists(f"/proc/{pid}") or "Z" in Path(f"/proc/{pid}/stat").read_text().split(")")[-1][:3]
    assert not local.postgres().running() and not local.redis().running()
    assert all(not owned(docker_client, owner) for owner in local.owners())
    local.postgres().remove()
