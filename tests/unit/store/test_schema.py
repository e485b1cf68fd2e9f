"""The schema under Alembic, on a real SQLite file and a real PostgreSQL database: a fresh database equals
the models, databases of the hand-written migrations upgrade with their rows, replicas migrate one at a
time, a newer database is refused, and ``sandbox db`` upgrades and reports."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from typer.testing import CliRunner

from sandbox.cli import app
from sandbox.errors import StoreError
from sandbox.models import ExecutionRecord, Status
from sandbox.store import Store, schema_revisions
from sandbox.store.legacy import ALEMBIC_MARK
from sandbox.store.schema import head, same_default
from sandbox.store.tables import Base


def differences(url: str) -> list[Any]:
    """What autogenerate would write to turn the database into the models (nothing when they agree)."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "compare_server_default": same_default}
            )
            found: list[Any] = compare_metadata(context, Base.metadata)
            return found
    finally:
        engine.dispose()


def scalar(url: str, sql: str) -> Any:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(text(sql)).scalar()
    finally:
        engine.dispose()


def test_a_fresh_database_is_exactly_the_models(db_url: str) -> None:
    store = Store(db_url)
    assert store.revision == head()
    store.close()
    assert differences(db_url) == []
    assert scalar(db_url, "SELECT version_num FROM alembic_version") == head()
    assert scalar(db_url, "SELECT max(version) FROM schema_version") == ALEMBIC_MARK  # older code refuses it


def test_reopening_changes_nothing(db_url: str) -> None:
    Store(db_url).close()
    Store(db_url).close()
    assert scalar(db_url, "SELECT count(*) FROM alembic_version") == 1
    assert scalar(db_url, "SELECT count(*) FROM schema_version") == 1


def old_database(url: str, version: int) -> tuple[str, str]:
    """A database as the hand-written migrations of ``version`` left it (create_all of that version, and
    its ``schema_version`` row), with a key and an execution in it: their ids."""
    engine = create_engine(url)
    try:
        with engine.begin() as db:
            Base.metadata.create_all(db)  # what create_all made at v6
            if version <= 5:
                db.execute(text("ALTER TABLE api_keys DROP COLUMN ops"))
            if version <= 4:
                db.execute(text("ALTER TABLE executions DROP COLUMN stages"))
            if version <= 3:
                db.execute(text("ALTER TABLE executions DROP COLUMN secrets"))
                db.execute(text("DROP TABLE secrets"))
            if version <= 2:
                db.execute(text("ALTER TABLE sessions DROP COLUMN instance"))
            if version <= 1:
                db.execute(text("DROP INDEX ix_executions_session_id"))
                db.execute(text("ALTER TABLE executions DROP COLUMN session_id"))
            db.execute(text("INSERT INTO schema_version (version) VALUES (:v)"), {"v": version})
            now = datetime.now(UTC)
            db.execute(
                text(
                    "INSERT INTO api_keys (id, name, key_hash, prefix, policy, max_concurrency, rate_per_min,"
                    " created_at) VALUES ('k1', 'old', :hash, 'sbx_old', 'standard', 1, 10, :now)"
                ),
                {"hash": "a" * 64, "now": now},
            )
            db.execute(
                text(
                    "INSERT INTO executions (id, key_id, language, policy, state, status, wall_ms, cpu_ms,"
                    " peak_memory_bytes, stdout, stderr, stdout_truncated, stderr_truncated, stdout_bytes,"
                    " stderr_bytes, message, findings, code_sha256, created_at) VALUES ('e1', 'k1', 'python',"
                    " 'standard', 'done', 'ok', 5, 4, 0, 'hello', '', false, false, 5, 0, '', '[]', '', :now)"
                ),
                {"now": now},
            )
        with engine.connect() as db:
            assert "alembic_version" not in inspect(db).get_table_names()
    finally:
        engine.dispose()
    return "k1", "e1"


@pytest.mark.parametrize("version", [1, 5, 6])
def test_a_database_of_the_hand_written_migrations_upgrades_with_its_rows(db_url: str, version: int) -> None:
    key_id, execution_id = old_database(db_url, version)
    store = Store(db_url)
    try:
        (key,) = store.list_keys()
        assert (key.id, key.name, key.ops) == (key_id, "old", False)  # an old key: no ops permission
        found = store.get_execution(execution_id, key_id)
        assert found is not None and found.stdout == "hello" and found.status is Status.OK
        assert found.session_id is None and found.secrets == {}
        later = ExecutionRecord(
            id="e2", language="python", policy="standard", session_id="s" * 32, created_at=datetime.now(UTC)
        )
        store.save_execution(later, key_id)  # the new columns are there
        assert store.get_execution("e2", key_id) == later
        assert store.revision == head()
    finally:
        store.close()
    assert differences(db_url) == []
    assert scalar(db_url, "SELECT max(version) FROM schema_version") == ALEMBIC_MARK
    assert scalar(db_url, "SELECT count(*) FROM schema_version") == 1


def test_a_database_of_a_newer_version_is_refused(db_url: str) -> None:
    Store(db_url).close()
    engine = create_engine(db_url)
    with engine.begin() as db:
        db.execute(text("UPDATE alembic_version SET version_num = 'ffff_from_the_future'"))
    engine.dispose()
    with pytest.raises(StoreError, match="revision ffff_from_the_future is newer than this service knows"):
        Store(db_url)


def test_a_hand_written_version_past_the_last_one_is_refused(db_path: Path) -> None:
    with sqlite3.connect(db_path) as db:
        db.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY)")
        db.execute("INSERT INTO schema_version VALUES (9)")
    with pytest.raises(StoreError, match="schema v9 has no Alembic revision"):
        Store(f"sqlite:///{db_path}")


def test_replicas_starting_together_on_one_postgres_migrate_one_at_a_time(postgres_url: str) -> None:
    """Without the advisory lock, two CREATE TABLEs of a fresh database race and one replica fails."""
    start = threading.Barrier(4)
    errors: list[BaseException] = []
    revisions: list[str | None] = []

    def open_store() -> None:
        start.wait()
        try:
            store = Store(postgres_url)
            revisions.append(store.revision)
            store.close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert revisions == [head()] * 4
    assert differences(postgres_url) == []
    assert scalar(postgres_url, "SELECT count(*) FROM schema_version") == 1


def test_sandbox_db_current_and_upgrade(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("SANDBOX_DATABASE_URL", db_url)
    cli = CliRunner()
    before = cli.invoke(app, ["db", "current"])
    assert before.exit_code == 0, before.output
    assert before.stdout.strip() == "none" and "sandbox db upgrade" in before.stderr
    upgraded = cli.invoke(app, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert f"at revision {head()}" in upgraded.stderr
    after = cli.invoke(app, ["db", "current"])
    assert after.exit_code == 0, after.output
    assert after.stdout.strip() == head() and "sandbox db upgrade" not in after.stderr
    assert schema_revisions(db_url) == (head(), head())
