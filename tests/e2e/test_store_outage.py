"""A real `sandbox serve` on a real PostgreSQL that stops and starts again: while the database is down every
keyed request answers 503 (problem+json, Retry-After) within seconds, never a 500 and never a hang; once it
is back the same server answers again, unrestarted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import docker
import httpx
import pytest

from sandbox.cluster.localservers import LocalPostgres
from tests.docker_fixtures import SESSION_OWNER
from tests.e2e.serving import ROOT, ServeProcesses, owned

pytestmark = pytest.mark.docker

#: The most an answer may take while the database is down (connect refused, pings fail fast).
ANSWER_WITHIN_S = 5.0


def create_key(url: str, state_dir: Path) -> str:
    """`sandbox keys create` against the same database the server uses: the key's plaintext."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANDBOX_")}
    env.update(SANDBOX_DATABASE_URL=url, SANDBOX_STATE_DIR=str(state_dir))
    made = subprocess.run(
        [sys.executable, "-m", "sandbox.cli", "keys", "create", "--name", "outage"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    return made.stdout.strip().splitlines()[-1]


def assert_unavailable(response: httpx.Response, took_s: float) -> None:
    assert response.status_code == 503, response.text
    assert took_s < ANSWER_WITHIN_S, took_s
    assert response.headers["retry-after"] == "2"
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "capacity_unavailable" and body["status"] == 503
    assert "database is unreachable" in body["detail"]


def timed(call: object) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = call()  # type: ignore[operator]
    return response, time.monotonic() - started


def test_a_database_outage_is_a_503_with_retry_after_and_the_server_recovers_by_itself(
    tmp_path: Path, own_postgres: LocalPostgres, docker_client: docker.DockerClient
) -> None:
    state_dir = tmp_path / "state"
    key = create_key(own_postgres.url, state_dir)
    owner = f"{SESSION_OWNER}-db-{uuid.uuid4().hex[:6]}"
    processes = ServeProcesses(tmp_path)
    try:
        server = processes.start(state_dir, owner, database_url=own_postgres.url, pool_size=0)
        server.wait_ready(timeout=90)
        with server.client(key, timeout=30) as client:
            assert client.get("/v1/executions").status_code == 200
            assert client.post("/v1/validate", json={"code": "print(1)"}).status_code == 200

            own_postgres.stop()
            time.sleep(1.2)  # past the key cache's second: authentication itself needs the database now
            listing, took = timed(lambda: client.get("/v1/executions"))
            assert_unavailable(listing, took)  # the key's authentication (a dependency of the route)
            validating, took = timed(lambda: client.post("/v1/validate", json={"code": "print(1)"}))
            assert_unavailable(validating, took)  # the body guard's authentication, before the body is read
            for path in ("/v1/sessions", "/v1/secrets", "/v1/ops"):
                answer, took = timed(lambda path=path: client.get(path))
                assert_unavailable(answer, took)
            mcp, took = timed(lambda: client.get("/mcp", headers={"Accept": "text/event-stream"}))
            assert mcp.status_code == 503 and mcp.headers["retry-after"] == "2" and took < ANSWER_WITHIN_S

            own_postgres.start()
            deadline = time.monotonic() + 20
            while (status := client.get("/v1/executions").status_code) != 200 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert status == 200
            assert client.post("/v1/validate", json={"code": "print(1)"}).status_code == 200
        assert "Traceback" not in server.output()
        server.signal(signal.SIGTERM)
        server.wait(timeout=60)
    finally:
        processes.close()
    assert owned(docker_client, owner) == []
