"""Real PostgreSQL and Redis servers for the tests: Debian's binaries, started on loopback.

Session-scoped fixtures start one of each per test run (``postgres_url``, ``redis_url``); a test
that restarts one (outage tests) starts its own with ``LocalPostgres``/``LocalRedis`` directly.
Each test using ``postgres_url`` gets a database of its own, so tests never see each other's rows.
``own_postgres`` and ``own_redis`` are servers of the test's own, to stop and start (outage tests).
"""

from __future__ import annotations

import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.cluster.localservers import LocalPostgres, LocalRedis, _pg_bin, free_port


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[LocalPostgres]:
    root = Path(tempfile.mkdtemp(prefix="sandbox-pg-"))
    server = LocalPostgres(root / "pg", free_port()).start()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
def postgres_url(postgres_server: LocalPostgres) -> str:
    """A fresh, empty database on the shared server (``postgresql+psycopg://`` URL)."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    psql = [_pg_bin("psql"), "-h", "127.0.0.1", "-p", str(postgres_server.port), "-U", "postgres", "-d", "postgres"]
    subprocess.run([*psql, "-tAc", f'CREATE DATABASE "{name}"'], check=True, capture_output=True)
    return postgres_server.url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(scope="session")
def redis_server() -> Iterator[LocalRedis]:
    root = Path(tempfile.mkdtemp(prefix="sandbox-redis-"))
    server = LocalRedis(root, free_port()).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: LocalRedis) -> str:
    """The shared server, flushed: each test starts from an empty Redis."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    try:
        client.flushall()
    finally:
        client.close()
    return redis_server.url


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[LocalPostgres]:
    """A PostgreSQL server of the test's own, to stop and start (the shared one must stay up)."""
    server = LocalPostgres(tmp_path / "own-pg", free_port()).start()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[LocalRedis]:
    """A Redis server of the test's own, to stop and start (the shared one must stay up)."""
    server = LocalRedis(tmp_path / "own-redis", free_port()).start()
    try:
        yield server
    finally:
        server.stop()
