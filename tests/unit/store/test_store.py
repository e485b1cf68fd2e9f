"""The SQLAlchemy store against a real SQLite file and a real PostgreSQL database: keys hashed, executions,
audit, schema, errors (the schema's migrations: ``test_schema.py``)."""

from __future__ import annotations

import ast
import hashlib
import re
import sqlite3
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text

import sandbox
from sandbox.cluster.localservers import LocalPostgres
from sandbox.errors import RequestRejected, StoreError, StoreUnavailable
from sandbox.models import ExecutionRecord, Finding, SessionInfo, Status
from sandbox.store import KEY_PREFIX, Store, hash_key

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


def raw(store: Store, sql: str, **params: object) -> list[tuple[object, ...]]:
    """Query the database directly (SQL and a connection of its own), bypassing the store's code."""
    with store.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text(sql), params)]


def on_sqlite(store: Store) -> bool:
    return store.engine.dialect.name == "sqlite"


def all_bytes(directory: Path) -> bytes:
    """The database file and its WAL/SHM companions: wherever a secret could have landed."""
    return b"".join(p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file())


def record(execution_id: str, created_at: datetime = T0, **fields: object) -> ExecutionRecord:
    values: dict[str, object] = {
        "id": execution_id,
        "language": "python",
        "policy": "standard",
        "state": "done",
        "status": Status.OK,
        "created_at": created_at,
    }
    values.update(fields)
    return ExecutionRecord.model_validate(values)


# ------------------------------------------------------------------------ keys


def test_create_key_returns_a_prefixed_plaintext_that_is_never_stored(store: Store, db_path: Path) -> None:
    info, plaintext = store.create_key("ci", "standard", 2, 30)
    assert plaintext.startswith(KEY_PREFIX)
    assert len(plaintext) > 40  # 32 random bytes, urlsafe-encoded
    assert info.name == "ci"
    assert (info.policy, info.max_concurrency, info.rate_per_min) == ("standard", 2, 30)
    assert plaintext.startswith(info.prefix)
    assert info.revoked_at is None
    assert info.ops is False  # the ops permission is asked for, never given by default

    rows = raw(store, "SELECT * FROM api_keys")
    assert len(rows) == 1
    (key_hash,) = raw(store, "SELECT key_hash FROM api_keys")[0]
    assert isinstance(key_hash, str)
    assert key_hash == hashlib.sha256(plaintext.encode()).hexdigest() == hash_key(plaintext)
    for column in rows[0]:
        assert plaintext not in str(column)
    if not on_sqlite(store):
        return
    # Nowhere in the files either (the WAL included); the secret part after the shown prefix neither.
    data = all_bytes(db_path.parent)
    assert plaintext.encode() not in data
    assert plaintext[len(info.prefix) :].encode() not in data
    assert key_hash.encode() in data  # sanity: we are looking at the right bytes


def test_two_keys_have_different_secrets(store: Store) -> None:
    _, first = store.create_key("a", "standard", 1, 10)
    _, second = store.create_key("b", "standard", 1, 10)
    assert first != second


def test_authenticate(store: Store) -> None:
    info, plaintext = store.create_key("ci", "strict", 1, 10)
    found = store.authenticate(plaintext)
    assert found is not None
    assert found.id == info.id
    assert found.policy == "strict"
    assert store.authenticate(plaintext + "x") is None
    assert store.authenticate("sbx_" + "A" * 43) is None
    assert store.authenticate("") is None


def test_revoked_key_no_longer_authenticates(store: Store) -> None:
    info, plaintext = store.create_key("ci", "standard", 1, 10)
    assert store.revoke_key("ci") is True
    assert store.authenticate(plaintext) is None
    assert store.revoke_key("ci") is False  # already revoked
    assert store.revoke_key(info.id) is False
    assert store.revoke_key("nobody") is False
    (listed,) = store.list_keys()
    assert listed.revoked_at is not None
    assert listed.revoked_at.tzinfo is not None
    assert listed.revoked_at.utcoffset() == timedelta(0)


def test_live_keys_confirms_many_at_once(store: Store) -> None:
    """The key cache's refresher asks for all the keys in use in one call: only live ones come back."""
    keys = [store.create_key(f"many-{n}", "standard", 1, 10) for n in range(3)]
    store.revoke_key("many-1")
    digests = [hash_key(plaintext) for _, plaintext in keys] + [hash_key("sbx_nobody")] * 600  # past one chunk
    live = store.live_keys(digests)
    assert {info.name for info in live.values()} == {"many-0", "many-2"}
    assert live[hash_key(keys[0][1])].id == keys[0][0].id
    assert store.live_keys([]) == {}


def test_revoke_by_id(store: Store) -> None:
    info, plaintext = store.create_key("ci", "standard", 1, 10)
    assert store.revoke_key(info.id) is True
    assert store.authenticate(plaintext) is None


def test_duplicate_name_is_rejected(store: Store) -> None:
    store.create_key("ci", "standard", 1, 10)
    with pytest.raises(RequestRejected, match="'ci' already exists"):
        store.create_key("ci", "strict", 1, 10)
    assert store.count_keys() == 1


def test_list_and_count_keys(store: Store) -> None:
    assert store.count_keys() == 0
    assert store.list_keys() == []
    created = [store.create_key(name, "standard", 1, 10)[0] for name in ("a", "b", "c")]
    assert store.count_keys() == 3
    assert [k.name for k in store.list_keys()] == ["a", "b", "c"]  # oldest first
    assert {k.id for k in store.list_keys()} == {k.id for k in created}


def test_keys_survive_reopening(db_url: str) -> None:
    first = Store(db_url)
    _, plaintext = first.create_key("ci", "standard", 1, 10)
    first.close()
    second = Store(db_url)
    try:
        assert second.authenticate(plaintext) is not None
        assert second.count_keys() == 1
    finally:
        second.close()


# ------------------------------------------------------------------ executions


def test_save_execution_inserts_then_updates(store: Store) -> None:
    info, _ = store.create_key("ci", "standard", 1, 10)
    store.save_execution(record("e1", state="running", status=None), info.id)
    running = store.get_execution("e1", info.id)
    assert running is not None
    assert running.state == "running"
    assert running.status is None
    assert running.finished_at is None

    done = record(
        "e1",
        status=Status.RUNTIME_ERROR,
        exit_code=3,
        stdout="out",
        stderr="err",
        wall_ms=12,
        cpu_ms=5,
        peak_memory_bytes=1024,
        message="exit 3",
        code_sha256="ab" * 32,
        stdout_bytes=3,
        stderr_bytes=3,
        finished_at=T0 + timedelta(seconds=1),
    )
    store.save_execution(done, info.id)
    assert raw(store, "SELECT count(*) FROM executions") == [(1,)]
    got = store.get_execution("e1", info.id)
    assert got == done
    assert got.status is Status.RUNTIME_ERROR


def test_output_is_kept_up_to_output_bytes(db_url: str) -> None:
    store = Store(db_url, output_bytes=11)
    try:
        info, _ = store.create_key("ci", "standard", 1, 10)
        store.save_execution(record("short", stdout="0123456789a", stderr=""), info.id)
        store.save_execution(record("long", stdout="0123456789abcdef", stderr="é" * 10), info.id)
        short = store.get_execution("short", info.id)
        long = store.get_execution("long", info.id)
    finally:
        store.close()
    assert short is not None and long is not None
    assert short.stdout == "0123456789a"  # exactly at the cap: untouched
    assert long.stdout == "0123456789a"
    # 11 bytes would split the sixth 2-byte 'é': it is dropped, never half-kept or replaced.
    assert long.stderr == "é" * 5
    assert "\ufffd" not in long.stderr


def test_output_cut_keeps_whole_four_byte_characters(db_url: str) -> None:
    store = Store(db_url, output_bytes=6)
    try:
        info, _ = store.create_key("ci", "standard", 1, 10)
        store.save_execution(record("e", stdout="a🙂🙂"), info.id)  # 1 + 4 + 4 bytes
        got = store.get_execution("e", info.id)
    finally:
        store.close()
    assert got is not None
    assert got.stdout == "a🙂"


def test_get_execution_of_another_key_is_none(store: Store) -> None:
    owner, _ = store.create_key("owner", "standard", 1, 10)
    other, _ = store.create_key("other", "standard", 1, 10)
    store.save_execution(record("e1"), owner.id)
    store.save_execution(record("anon"), None)
    assert store.get_execution("e1", owner.id) is not None
    assert store.get_execution("e1", other.id) is None
    assert store.get_execution("e1", None) is None
    assert store.get_execution("anon", owner.id) is None
    assert store.get_execution("missing", owner.id) is None


def test_list_executions_pages_newest_first_with_total(store: Store) -> None:
    owner, _ = store.create_key("owner", "standard", 1, 10)
    other, _ = store.create_key("other", "standard", 1, 10)
    # Saved out of order on purpose: the order comes from created_at, not insertion.
    for n in (2, 0, 4, 1, 3):
        store.save_execution(record(f"e{n}", created_at=T0 + timedelta(minutes=n)), owner.id)
    store.save_execution(record("theirs", created_at=T0 + timedelta(hours=1)), other.id)

    page, total = store.list_executions(owner.id, 2, 0)
    assert total == 5
    assert [r.id for r in page] == ["e4", "e3"]
    page, total = store.list_executions(owner.id, 2, 2)
    assert ([r.id for r in page], total) == (["e2", "e1"], 5)
    page, total = store.list_executions(owner.id, 2, 4)
    assert ([r.id for r in page], total) == (["e0"], 5)
    page, total = store.list_executions(owner.id, 10, 50)
    assert (page, total) == ([], 5)
    page, total = store.list_executions(other.id, 10, 0)
    assert ([r.id for r in page], total) == (["theirs"], 1)


def test_findings_round_trip(store: Store) -> None:
    info, _ = store.create_key("ci", "standard", 1, 10)
    findings = [
        Finding(rule_id="import.denied", message="import of 'subprocess'", line=3, col=4),
        Finding(
            rule_id="B602",
            severity="medium",
            action="warn",
            message="shell=True",
            source="bandit",
            file="lib/util.py",
        ),
    ]
    store.save_execution(record("e1", status=Status.VALIDATION_REJECTED, findings=findings), info.id)
    got = store.get_execution("e1", info.id)
    assert got is not None
    assert got.findings == findings
    assert all(isinstance(f, Finding) for f in got.findings)
    assert got.status is Status.VALIDATION_REJECTED


def test_datetimes_come_back_timezone_aware_utc(store: Store) -> None:
    info, _ = store.create_key("ci", "standard", 1, 10)
    finished = T0 + timedelta(seconds=2, microseconds=345)
    store.save_execution(record("e1", finished_at=finished), info.id)
    got = store.get_execution("e1", info.id)
    assert got is not None
    for value in (got.created_at, got.finished_at):
        assert value is not None
        assert value.tzinfo is not None
        assert value.utcoffset() == timedelta(0)
    assert got.created_at == T0
    assert got.finished_at == finished
    (listed,) = store.list_executions(info.id, 10, 0)[0]
    assert listed.created_at == T0
    assert listed.created_at.utcoffset() == timedelta(0)
    (key,) = store.list_keys()
    assert key.created_at.tzinfo is not None
    assert key.created_at.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - key.created_at) < timedelta(minutes=1)


def test_a_non_utc_aware_datetime_keeps_its_instant(store: Store) -> None:
    info, _ = store.create_key("ci", "standard", 1, 10)
    plus_two = datetime(2025, 3, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    store.save_execution(record("e1", created_at=plus_two), info.id)
    got = store.get_execution("e1", info.id)
    assert got is not None
    assert got.created_at == plus_two  # the same instant: 12:00 UTC


# ----------------------------------------------------------------------- audit


def test_audit_events_are_appended_newest_first(store: Store) -> None:
    info, _ = store.create_key("ci", "standard", 1, 10)
    store.audit("execution.rejected", info.id, status="validation_rejected", reason="import subprocess")
    store.revoke_key("ci")
    events = store.audit_events()
    assert [e["event"] for e in events] == ["key.revoked", "execution.rejected", "key.created"]
    assert all(e["key_id"] == info.id for e in events)
    assert events[1]["detail"] == {"status": "validation_rejected", "reason": "import subprocess"}
    assert events[2]["detail"] == {"name": "ci", "policy": "standard", "ops": False}
    assert [e["event"] for e in store.audit_events(limit=1)] == ["key.revoked"]
    store.audit("custom")
    (latest,) = store.audit_events(limit=1)
    assert {k: v for k, v in latest.items() if k != "at"} == {"key_id": None, "event": "custom", "detail": {}}
    assert isinstance(latest["at"], datetime)


def test_audit_never_holds_the_key_plaintext(store: Store, db_path: Path) -> None:
    info, plaintext = store.create_key("ci", "standard", 1, 10)
    store.authenticate(plaintext)
    store.revoke_key(info.id)
    events = store.audit_events()
    assert events
    assert plaintext not in repr(events)
    assert plaintext[len(info.prefix) :] not in repr(events)
    for (detail,) in raw(store, "SELECT detail FROM audit_events"):
        assert plaintext not in str(detail)
    if on_sqlite(store):
        assert plaintext.encode() not in all_bytes(db_path.parent)


def test_audit_event_times_are_timezone_aware_utc(store: Store) -> None:
    store.audit("custom")
    (event,) = store.audit_events()
    assert event["at"].tzinfo is not None
    assert event["at"].utcoffset() == timedelta(0)


# ---------------------------------------------------------------------- schema


def test_sqlite_runs_in_wal_mode(db_path: Path) -> None:
    store = Store(f"sqlite:///{db_path}")
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    store.close()
    # WAL is a property of the file: it shows through a plain connection too.
    with sqlite3.connect(db_path) as db:
        assert db.execute("PRAGMA journal_mode").fetchall() == [("wal",)]


# ---------------------------------------------------------------------- errors


def test_an_unreachable_sqlite_path_is_a_store_error() -> None:
    with pytest.raises(StoreError, match=re.escape("cannot open the database sqlite:////nonexistent-dir/x.db")):
        Store("sqlite:////nonexistent-dir/x.db")


def test_the_password_of_a_refused_url_is_redacted() -> None:
    with pytest.raises(StoreError, match=r"cannot open the database sqlite://\*\*\*@host/x.db") as caught:
        Store("sqlite://u:secret@host/x.db")  # SQLite takes no credentials: refused by SQLAlchemy
    assert "secret" not in str(caught.value)


def test_a_postgres_url_without_its_driver_is_a_store_error_with_the_password_redacted() -> None:
    with pytest.raises(StoreError) as caught:
        Store("postgresql://u:secret@127.0.0.1:1/db")
    assert "secret" not in str(caught.value)


def test_database_errors_after_opening_are_store_errors(store: Store) -> None:
    """A failing statement (here: its table is gone) is a ``StoreError`` (500), not ``StoreUnavailable``."""
    info, _ = store.create_key("ci", "standard", 1, 10)
    with store.engine.begin() as connection:
        connection.execute(text("DROP TABLE executions"))
    store.engine.dispose()
    with pytest.raises(StoreError, match="could not save an execution"):
        store.save_execution(record("e1"), info.id)
    with pytest.raises(StoreError, match="could not read an execution"):
        store.get_execution("e1", info.id)
    with pytest.raises(StoreError, match="could not list executions"):
        store.list_executions(info.id, 10, 0)


def test_a_database_that_cannot_take_writes_is_store_unavailable(tmp_path: Path) -> None:
    """A read-only SQLite file (and, by the same words, a full disk) is a 503 to retry, never a 500."""
    path = tmp_path / "ro.db"
    Store(f"sqlite:///{path}").close()
    read_only = Store(f"sqlite:///file:{path}?mode=ro&uri=true")
    try:
        with pytest.raises(StoreUnavailable) as caught:
            read_only.audit("auth.failed")
        assert caught.value.http_status == 503
        assert read_only.list_keys() == []  # reads still work
    finally:
        read_only.close()


def test_an_unreachable_database_is_store_unavailable_within_seconds_and_never_shows_the_password(
    own_postgres: LocalPostgres, caplog: pytest.LogCaptureFixture
) -> None:
    """A 503 (retry later), not a 500: the store's every path, the engine's connect bounded in time."""
    url = own_postgres.url.replace("postgres@", "postgres:hunter2-secret@")  # trust auth: the password is ignored
    store = Store(url)
    info, plaintext = store.create_key("ci", "standard", 1, 10)
    own_postgres.stop()
    calls = {
        "authenticate": lambda: store.authenticate(plaintext),
        "audit": lambda: store.audit("auth.failed"),
        "list": lambda: store.list_executions(info.id, 10, 0),
        "save": lambda: store.save_execution(record("e1"), info.id),
        "session": lambda: store.get_session("s" * 32, info.id),
        "keys": store.list_keys,
    }
    for name, call in calls.items():
        started = time.monotonic()
        with pytest.raises(StoreUnavailable) as caught:
            call()
        assert time.monotonic() - started < 5, name
        assert caught.value.http_status == 503 and caught.value.retry_after_s == 2
        assert str(caught.value) == "the database is unreachable; retry shortly"
    assert "hunter2" not in caplog.text
    own_postgres.start()
    assert store.authenticate(plaintext) is not None  # the same store, once the database is back
    store.close()


# -------------------------------------------------------------------- layering


def test_sqlalchemy_is_imported_only_inside_the_store_package() -> None:
    package = Path(sandbox.__file__).resolve().parent
    store_dir = package / "store"
    offenders: list[str] = []
    importers: set[str] = set()
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            if any(name == "sqlalchemy" or name.startswith("sqlalchemy.") for name in names):
                importers.add(path.name)
                if store_dir not in path.parents:
                    offenders.append(f"{path.relative_to(package)}:{node.lineno}")
    assert not offenders, f"sqlalchemy imported outside sandbox/store: {offenders}"
    assert {"store.py", "tables.py"} <= importers  # the walk does see the real importers


def test_an_execution_of_an_unknown_key_is_refused_not_lost(db_url: str) -> None:
    store = Store(db_url)
    record = ExecutionRecord(id="e" * 32, language="python", policy="standard", created_at=datetime.now(UTC))
    with pytest.raises(StoreError, match=rf"could not save an execution \({'e' * 32}\)"):
        store.save_execution(record, "no-such-key")
    assert store.get_execution(record.id, "no-such-key") is None
    store.close()


def test_a_batch_with_one_bad_record_saves_the_others(db_url: str) -> None:
    store = Store(db_url)
    key = store.create_key("k", "standard", 1, 1)[0]
    made = [
        ExecutionRecord(id=f"{i:032d}", language="python", policy="standard", created_at=datetime.now(UTC))
        for i in range(3)
    ]
    errors = store.save_executions([(made[0], key.id), (made[1], "no-such-key"), (made[2], key.id)])
    assert [e is None for e in errors] == [True, False, True]
    assert [store.get_execution(r.id, key.id) is not None for r in made] == [True, False, True]
    done = made[0].model_copy(update={"state": "done", "status": Status.OK, "stdout": "hi\n"})
    assert store.save_executions([(done, key.id)]) == [None]  # the same id again: an update
    assert store.get_execution(done.id, key.id) == done
    store.close()


def test_open_sessions_of_a_gone_instance_are_closed_with_a_reason(db_url: str) -> None:
    store = Store(db_url)
    key = store.create_key("k", "standard", 1, 1)[0]
    now = datetime.now(UTC)

    def session(sid: str, instance: str | None, state: str = "open") -> None:
        info = SessionInfo(
            id=sid * 32, language="python", policy="standard", state=state, created_at=now,
            last_used_at=now, expires_at=now, idle_ttl_s=60,
        )  # fmt: skip
        store.save_session(info, key.id, instance)

    session("a", "dead-1")
    session("b", "alive-1")
    session("c", None)  # written by an older version: no instance known
    session("d", "dead-2", state="closed")
    closed = store.close_orphaned_sessions(lambda label: label.startswith("dead"), "its server stopped", now)
    assert closed == 1
    states = {sid: store.get_session(sid * 32, key.id) for sid in "abcd"}
    assert (states["a"].state, states["a"].closed_reason) == ("closed", "its server stopped")
    assert states["b"].state == "open" and states["c"].state == "open"
    assert states["d"].closed_reason == ""  # closed before: left as it was
    store.close()


def test_open_sessions_long_past_their_lifetime_are_closed_whoever_held_them(db_url: str) -> None:
    store = Store(db_url)
    key = store.create_key("k", "standard", 1, 1)[0]
    now = datetime.now(UTC)
    for sid, expires in (("a", now - timedelta(hours=2)), ("b", now + timedelta(hours=1))):
        info = SessionInfo(
            id=sid * 32, language="python", policy="standard", state="open", created_at=now,
            last_used_at=now, expires_at=expires, idle_ttl_s=60,
        )  # fmt: skip
        store.save_session(info, key.id, "unknown-host-instance")
    closed = store.close_orphaned_sessions(lambda label: False, "gone", now - timedelta(minutes=1))
    assert closed == 1
    a, b = (store.get_session(sid * 32, key.id) for sid in "ab")
    assert a.state == "closed" and "maximum lifetime" in a.closed_reason
    assert b.state == "open"
    store.close()
