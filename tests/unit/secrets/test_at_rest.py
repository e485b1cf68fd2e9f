"""At rest: no plaintext in the database files (WAL included), schema v4, and the cryptography fence."""

from __future__ import annotations

import base64
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from sandbox.models import ExecutionRecord
from sandbox.secrets import LocalKeyProvider, SecretStore
from sandbox.store import Store
from sandbox.store.legacy import ALEMBIC_MARK
from tests.unit.secrets.conftest import NEW_KEK, OLD_KEK, kek_entry
from tests.unit.test_layering import importers_of

CANARY = "canary-Pl41nText-7f3a9c1e-do-not-store"
REPLACED = "replaced-Pl41nText-0b8d2e44-gone"


def forms(value: bytes) -> dict[str, bytes]:
    """The value and the encodings a careless store could have written."""
    return {
        "raw": value,
        "base64": base64.b64encode(value),
        "base64url": base64.urlsafe_b64encode(value).rstrip(b"="),
        "hex": value.hex().encode(),
        "HEX": value.hex().upper().encode(),
        "utf-16": value.decode().encode("utf-16-le") if value.isascii() else value,
    }


def database_files(db_path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(db_path.parent.iterdir()) if p.name.startswith(db_path.name)}


def assert_absent(files: dict[str, bytes], value: bytes) -> None:
    for file_name, data in files.items():
        for form, needle in forms(value).items():
            assert needle not in data, f"{form} form found in {file_name}"


def test_no_plaintext_and_no_kek_in_the_database_files(db_path: Path) -> None:
    """SQLite's files, the WAL included (PostgreSQL's files are the server's, not ours to read)."""
    db_path.parent.mkdir()
    store = Store(f"sqlite:///{db_path}")
    alice = store.create_key("alice", "standard", 4, 60)[0].id
    bob = store.create_key("bob", "standard", 4, 60)[0].id
    keys = LocalKeyProvider.from_text(f"{kek_entry('new', NEW_KEK)},{kek_entry('old', OLD_KEK)}", "test")
    vault = SecretStore(store, keys)
    vault.put(alice, "CANARY_REPLACED", REPLACED)
    vault.put(alice, "CANARY_REPLACED", CANARY)
    vault.put(bob, "CANARY_SECRET", CANARY)
    assert vault.reveal(alice, ["CANARY_REPLACED"]) == {"CANARY_REPLACED": (CANARY, 2)}
    vault.rotate_kek()

    files = database_files(db_path)
    assert {"sandbox.db", "sandbox.db-wal", "sandbox.db-shm"} <= set(files)  # WAL: rows sit in the -wal file
    assert any(b"CANARY_SECRET" in data for data in files.values())  # the names are there: we read the right bytes
    for secret in (CANARY.encode(), REPLACED.encode(), NEW_KEK, OLD_KEK):
        assert_absent(files, secret)

    store.close()  # the last connection checkpoints the WAL into the database file
    closed = database_files(db_path)
    assert b"CANARY_SECRET" in closed["sandbox.db"]
    for secret in (CANARY.encode(), REPLACED.encode(), NEW_KEK, OLD_KEK):
        assert_absent(closed, secret)


def test_a_version_3_database_gains_executions_secrets_and_the_secrets_table(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    Store(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as db:  # turn it back into what version 3 created
        db.execute("DROP TABLE secrets")
        db.execute("ALTER TABLE executions DROP COLUMN secrets")
        db.execute("ALTER TABLE executions DROP COLUMN stages")
        db.execute("ALTER TABLE api_keys DROP COLUMN ops")
        db.execute("DROP TABLE alembic_version")  # made before Alembic
        db.execute("DELETE FROM schema_version")
        db.execute("INSERT INTO schema_version (version) VALUES (3)")
    db.close()
    store = Store(f"sqlite:///{path}")
    key = store.create_key("k", "standard", 1, 1)[0]
    record = ExecutionRecord(id="e" * 32, language="python", policy="standard", created_at=datetime.now(UTC))
    store.save_execution(record, key.id)  # records are written and read as before
    assert store.get_execution(record.id, key.id) == record
    vault = SecretStore(store, LocalKeyProvider([("k", OLD_KEK)]))
    vault.put(key.id, "TOKEN", "token-value")
    assert vault.reveal(key.id, ["TOKEN"]) == {"TOKEN": ("token-value", 1)}
    store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT max(version) FROM schema_version").fetchone() == (ALEMBIC_MARK,)
        columns = {row[1]: row[2] for row in db.execute("PRAGMA table_info(executions)")}
        assert columns["secrets"] == "JSON"
        assert db.execute("SELECT secrets FROM executions").fetchall() == [("{}",)]  # names -> versions: none
        indexes = {row[1]: row[2] for row in db.execute("PRAGMA index_list(secrets)")}
        assert indexes.get("ix_secrets_owner_key_id") == 0
        assert any(unique for name, unique in indexes.items() if name != "ix_secrets_owner_key_id")
    db.close()


def test_only_the_crypto_module_imports_cryptography() -> None:
    assert set(importers_of("cryptography")) == {"sandbox.secrets.crypto"}
    assert not [m for m in importers_of("sqlalchemy") if m.startswith("sandbox.secrets")]
    assert not [
        m for m in importers_of("sandbox.secrets.redaction") if m in {"sandbox.secrets", "sandbox.secrets.vault"}
    ]
