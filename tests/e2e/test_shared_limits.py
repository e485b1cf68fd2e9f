"""Two real `sandbox serve` replicas share a key's rate through a real Redis; Redis down answers 503.

Only ``POST /v1/validate`` is used: it takes a token of the key's rate like an execution, and it
stays in the replica whatever else ``SANDBOX_REDIS_URL`` turns on (runs go to workers).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import httpx
import pytest

from sandbox.cluster.localservers import LocalRedis
from tests.docker_fixtures import SESSION_OWNER
from tests.e2e.serving import ServeProcesses, Server, create_key, database, owned

CODE = {"code": "print('hello')"}
RATE = 3


@pytest.fixture
def replicas(
    tmp_path: Path, own_redis: LocalRedis, docker_client: docker.DockerClient
) -> Iterator[tuple[Server, Server]]:
    """Two replicas on one database (SQLite is enough here) and one Redis; no warm pool, no container."""
    shared = tmp_path / "shared"
    create_key(shared, "bootstrap")  # the schema exists before either replica starts
    owner = f"{SESSION_OWNER}-lim-{uuid.uuid4().hex[:6]}"
    processes = ServeProcesses(tmp_path)
    settings = {
        "database_url": database(shared),
        "redis_url": own_redis.url,
        "redis_timeout_s": 1,
        "pool_size": 0,
        "validation_workers": 1,
    }
    try:
        a = processes.start(tmp_path / "a", owner, **settings)
        a.wait_ready(timeout=90)
        b = processes.start(tmp_path / "b", owner, **settings)
        b.wait_ready(timeout=90)
        yield a, b
    finally:
        processes.close()
    assert not owned(docker_client, owner)


def validate(server: Server, key: str) -> httpx.Response:
    with server.client(key, timeout=10) as client:
        return client.post("/v1/validate", json=CODE)


def test_the_rate_of_a_key_is_shared_by_the_replicas(tmp_path: Path, replicas: tuple[Server, Server]) -> None:
    a, b = replicas
    _, key = create_key(tmp_path / "shared", "limited", rate=RATE)
    answers = [validate((a, b)[i % 2], key) for i in range(RATE + 2)]
    statuses = [r.status_code for r in answers]
    # In-process limits would allow RATE on each replica (2 * RATE in all); shared, RATE in all.
    assert statuses == [200] * RATE + [429, 429], [r.text for r in answers]
    for refused in answers[RATE:]:
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert 15 <= int(refused.headers["retry-after"]) <= 60 // RATE  # a token every 20 s
        assert f"rate limit of {RATE} per minute is used up" in refused.json()["detail"]


def test_redis_down_answers_503_then_service_resumes(
    tmp_path: Path, replicas: tuple[Server, Server], own_redis: LocalRedis
) -> None:
    a, b = replicas
    _, key = create_key(tmp_path / "shared", "plenty", rate=1000)
    assert validate(a, key).status_code == 200
    own_redis.stop()
    for server in (a, b):
        response = validate(server, key)
        assert response.status_code == 503, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.headers["retry-after"] == "2"
        body = response.json()
        assert body["detail"] == "the rate-limit store (Redis) is unreachable; retry shortly"
        assert own_redis.url not in response.text
    own_redis.start()
    for server in (a, b):
        assert validate(server, key).status_code == 200
