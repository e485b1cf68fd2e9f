"""Resilience with real `sandbox serve` processes and the real engine: SIGKILL, SIGTERM, an engine restart.

- A SIGKILLed server leaves its warm pool and an open session's container; the
  next server on the same database removes them at start (its janitor: the
  creator is dead) and closes the session record with a reason.
- SIGTERM drains: a run that fits in the grace finishes, the rest are killed as
  "server shutting down", sessions close, nothing is left; a second signal ends
  the grace at once and still leaves nothing behind.
- The engine fault test stops the dockerd the project's set-up started
  (``scripts/ensure-docker.sh`` records its pid) while clients keep posting, then
  starts it again the same way: no request hangs, the outage answers 503 fast,
  the breaker opens and closes, service resumes within 2 s, no container is left.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import httpx
import pytest

from sandbox.store import Store
from tests.docker_fixtures import SESSION_OWNER
from tests.e2e.serving import ServeProcesses, Server, create_key, database, owned

HELLO = {"code": "print('hello world')"}


@dataclass
class Harness:
    """Server processes of one test; their containers carry ``owner``."""

    processes: ServeProcesses
    owner: str
    state_dir: Path
    docker: docker.DockerClient

    def start(self, **settings: object) -> Server:
        return self.processes.start(self.state_dir, self.owner, **settings)

    def containers(self) -> list[dict]:
        return owned(self.docker, self.owner)


@pytest.fixture
def harness(tmp_path: Path, docker_client: docker.DockerClient, request: pytest.FixtureRequest) -> Iterator[Harness]:
    """Kills the test's servers still running, then fails the test if any container of its owner is left."""
    processes = ServeProcesses(tmp_path)
    owner = f"{SESSION_OWNER}-res-{uuid.uuid4().hex[:6]}"
    try:
        yield Harness(processes, owner, tmp_path / "state", docker_client)
    finally:
        processes.close()
    left = owned(docker_client, owner)
    for c in left:
        with contextlib.suppress(docker.errors.APIError):
            docker_client.api.remove_container(c["Id"], force=True)
    if left:
        pytest.fail(f"{request.node.nodeid} left containers {[(c['Id'][:12], c['State']) for c in left]}")


def wait_for(predicate, timeout: float, interval: float = 0.05):
    """Poll ``predicate`` until it returns something true; that value, or None after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


# ----------------------------------------------------------------------------------------------- SIGKILL
def test_sigkill_leftovers_are_reaped_and_the_session_closed_by_the_next_start(harness: Harness) -> None:
    _, key = create_key(harness.state_dir, "kill")
    first = harness.start(pool_size=2, validation_workers=0)
    first.wait_ready()
    with first.client(key) as api:
        opened = api.post("/v1/sessions", json={})
        assert opened.status_code == 201, opened.text
        sid = opened.json()["id"]
        cell = api.post(f"/v1/sessions/{sid}/executions", json={"code": "x = 41\nprint(x + 1)"})
        assert (cell.status_code, cell.json()["status"], cell.json()["stdout"]) == (200, "ok", "42\n")
    before = {c["Id"]: c for c in harness.containers()}
    kinds = sorted(c["Labels"]["io.sandbox.kind"] for c in before.values())
    assert kinds == ["session", "warm", "warm"], kinds

    first.process.kill()  # SIGKILL: no lifespan shutdown, nothing cleaned up
    assert first.wait(10) == -signal.SIGKILL
    left = {c["Id"]: c for c in harness.containers()}
    assert set(left) == set(before), "SIGKILL itself removed containers?"
    assert all(c["State"] == "running" for c in left.values()), [c["State"] for c in left.values()]

    second = harness.start(pool_size=2, validation_workers=0)
    gone = wait_for(lambda: not set(before) & {c["Id"] for c in harness.containers()}, timeout=15, interval=0.1)
    reaped_after = time.monotonic() - second.started
    assert gone, f"the dead instance's containers are still there after 15 s:\n{second.tail()}"
    assert reaped_after < 10, f"reaped {reaped_after:.1f} s after the second start (want < 10 s)"
    # By the second server's start sweep (another server's janitor on this host would race it: none runs in CI).
    said = wait_for(lambda: "janitor: removed 3 dead container(s)" in second.output(), timeout=10, interval=0.1)
    assert said, f"the second server did not say it removed the 3 dead containers:\n{second.tail()}"
    second.wait_ready()
    with second.client(key) as api:
        info = wait_for(lambda: (r := api.get(f"/v1/sessions/{sid}").json())["state"] == "closed" and r, timeout=10)
        assert info, api.get(f"/v1/sessions/{sid}").text
        assert "server stopped" in info["closed_reason"], info
        assert api.post(f"/v1/sessions/{sid}/executions", json={"code": "print(x)"}).status_code == 404
    print(
        f"\nSIGKILL recovery: the dead instance's 3 containers were removed {reaped_after:.2f} s after the next start"
    )

    second.signal(signal.SIGTERM)
    code = second.wait(30)
    assert code in (0, -signal.SIGTERM), f"exit {code}:\n{second.tail()}"
    assert harness.containers() == []


# ----------------------------------------------------------------------------------------------- SIGTERM
def start_run(api: httpx.Client, code: str, wall_time_s: float) -> str:
    response = api.post("/v1/executions?wait=false", json={"code": code, "limits": {"wall_time_s": wall_time_s}})
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def wait_running(harness: Harness, count: int) -> None:
    """Until ``count`` one-shot containers are running a program (taken from the pool or cold)."""

    def busy() -> bool:
        return sum(c["Labels"]["io.sandbox.kind"] != "session" for c in harness.containers()) >= count

    assert wait_for(busy, timeout=15, interval=0.1)


def records(state_dir: Path, key_id: str, *ids: str) -> list:
    store = Store(database(state_dir))
    try:
        return [store.get_execution(i, key_id) for i in ids]
    finally:
        store.close()


LONG = "import time\ntime.sleep(30)\nprint('not reached')"
SHORT = "import time\ntime.sleep(1.0)\nprint('short done')"


def test_sigterm_lets_short_runs_finish_kills_the_rest_and_leaves_nothing(harness: Harness) -> None:
    grace = 2.0
    key_id, key = create_key(harness.state_dir, "term")
    server = harness.start(pool_size=2, validation_workers=0, shutdown_grace_s=grace)
    server.wait_ready()
    with server.client(key) as api:
        sid = api.post("/v1/sessions", json={}).json()["id"]
        long_id = start_run(api, LONG, 40)
        short_id = start_run(api, SHORT, 10)
        time.sleep(0.3)  # both programs started (the short one still has ~0.7 s to go)
        assert [api.get(f"/v1/executions/{i}").json()["state"] for i in (long_id, short_id)] == ["running"] * 2

    signalled = time.monotonic()
    server.signal(signal.SIGTERM)
    code = server.wait(grace + 15)
    took = time.monotonic() - signalled
    # uvicorn re-raises the signal it captured once it has shut down: the exit is "killed by SIGTERM".
    assert code == -signal.SIGTERM, f"exit {code}:\n{server.tail()}"
    assert grace <= took < grace + 6, f"exited {took:.1f} s after SIGTERM (grace {grace} s):\n{server.tail()}"
    long, short = records(harness.state_dir, key_id, long_id, short_id)
    assert (short.status, short.stdout) == ("ok", "short done\n"), short
    assert long.status == "killed" and "server shutting down" in long.message, long
    store = Store(database(harness.state_dir))
    try:
        session = store.get_session(sid, key_id)
    finally:
        store.close()
    assert session is not None and (session.state, session.closed_reason) == ("closed", "server shutdown"), session
    assert harness.containers() == []
    print(f"\nSIGTERM: exit {code} after {took:.2f} s (grace {grace} s)")


@pytest.mark.parametrize(
    "signals", [(signal.SIGTERM, signal.SIGTERM), (signal.SIGINT, signal.SIGINT)], ids=["TERM-TERM", "INT-INT"]
)
def test_a_second_signal_ends_the_grace_at_once_and_still_cleans_up(harness: Harness, signals) -> None:
    grace = 30.0
    key_id, key = create_key(harness.state_dir, "twice")
    server = harness.start(pool_size=1, validation_workers=0, shutdown_grace_s=grace)
    server.wait_ready()
    waited: list[httpx.Response | BaseException] = []

    def wait_true() -> None:  # a client waiting on its answer while the server shuts down
        with server.client(key, timeout=60) as client:
            try:
                waited.append(client.post("/v1/executions", json={"code": LONG, "limits": {"wall_time_s": 40}}))
            except BaseException as exc:
                waited.append(exc)

    with server.client(key) as api:
        sid = api.post("/v1/sessions", json={}).json()["id"]
        background = start_run(api, LONG, 40)
        waiter = threading.Thread(target=wait_true)
        waiter.start()
        wait_running(harness, 2)

    first, second = signals
    signalled = time.monotonic()
    server.signal(first)
    time.sleep(1.0)
    assert server.process.poll() is None, "the first signal did not give the grace"
    server.signal(second)
    code = server.wait(15)
    took = time.monotonic() - signalled
    waiter.join(timeout=10)
    assert took < 8, f"exited {took:.1f} s after the first signal (grace {grace} s): the second did not hurry it"
    # uvicorn re-raises the first signal once it has shut down: SIGTERM ends the process by that signal, SIGINT
    # is a KeyboardInterrupt that uvicorn.run swallows (exit 0).
    assert code == (-signal.SIGTERM if first == signal.SIGTERM else 0), f"exit {code}:\n{server.tail()}"
    assert len(waited) == 1 and isinstance(waited[0], httpx.Response), waited
    assert waited[0].status_code == 200 and waited[0].json()["status"] == "killed", waited[0].text
    assert "server shutting down" in waited[0].json()["message"]
    (record,) = records(harness.state_dir, key_id, background)
    assert record.status == "killed" and "server shutting down" in record.message, record
    store = Store(database(harness.state_dir))
    try:
        session = store.get_session(sid, key_id)
    finally:
        store.close()
    assert session is not None and session.closed_reason == "server shutdown", session
    assert harness.containers() == [], "the second signal skipped the cleanup"
    print(f"\n{signal.Signals(first).name} then {signal.Signals(second).name}: exit {code} after {took:.2f} s")
