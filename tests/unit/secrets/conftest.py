"""Fixtures of the secret-store tests: a real Store on a SQLite file and on PostgreSQL, fixed KEKs, two owners."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.secrets import LocalKeyProvider, SecretStore
from sandbox.store import Store

OLD_KEK = bytes(range(32))
NEW_KEK = bytes(range(100, 132))


def kek_entry(kek_id: str, kek: bytes) -> str:
    return f"{kek_id}:{base64.b64encode(kek).decode()}"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "db" / "sandbox.db"


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, db_path: Path) -> Iterator[Store]:
    """A fresh database: a SQLite file, or a database of its own on the shared PostgreSQL server."""
    if request.param == "sqlite":
        db_path.parent.mkdir()
        url = f"sqlite:///{db_path}"
    else:
        url = request.getfixturevalue("postgres_url")
    opened = Store(url)
    yield opened
    opened.close()


@pytest.fixture
def owners(store: Store) -> tuple[str, str]:
    """The ids of two API keys: two tenants."""
    alice, _ = store.create_key("alice", "standard", 4, 60)
    bob, _ = store.create_key("bob", "standard", 4, 60)
    return alice.id, bob.id


@pytest.fixture
def old_keys() -> LocalKeyProvider:
    return LocalKeyProvider([("old", OLD_KEK)])


@pytest.fixture
def vault(store: Store, old_keys: LocalKeyProvider) -> SecretStore:
    return SecretStore(store, old_keys)
