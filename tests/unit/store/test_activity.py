"""The operations snapshot's store queries against a real SQLite file and a real PostgreSQL database: minutes,
refusals, latency, failures, bounds."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, insert

from sandbox import ops
from sandbox.models import ExecutionRecord, Status
from sandbox.store import Store, activity, minute_of, recent_activity
from sandbox.store.tables import AuditRow

NOW = datetime(2026, 3, 1, 12, 30, 20, tzinfo=UTC)
SINCE = minute_of(NOW) - timedelta(minutes=59)  # 11:31:00, what the snapshot asks for


def save(
    store: Store,
    created_at: datetime,
    status: Status | None = Status.OK,
    *,
    key_id: str | None = None,
    took_ms: float = 20,
    wall_ms: int = 9,
    message: str = "",
    execution_id: str | None = None,
) -> str:
    """One execution record created at ``created_at``; ``status`` None: still running (no result yet)."""
    execution_id = execution_id or f"{created_at:%H%M%S%f}{status or 'running'}"[:32]
    record = ExecutionRecord(
        id=execution_id,
        language="python",
        policy="standard",
        state="done" if status else "running",
        status=status,
        wall_ms=wall_ms,
        message=message,
        created_at=created_at,
        finished_at=created_at + timedelta(milliseconds=took_ms) if status else None,
    )
    store.save_execution(record, key_id)
    return execution_id


def audit_at(store: Store, at: datetime, event: str, **detail: object) -> None:
    """An audit event at a chosen time (the store stamps its own with the current time)."""
    with store.engine.begin() as connection:
        connection.execute(
            insert(AuditRow), {"at": at.astimezone(UTC), "key_id": None, "event": event, "detail": detail}
        )


def minute(hh: int, mm: int) -> datetime:
    return datetime(2026, 3, 1, hh, mm, tzinfo=UTC)


def test_executions_are_counted_per_minute_and_status_inside_the_window_only(store: Store) -> None:
    save(store, minute(11, 31) + timedelta(seconds=0))  # the window's first instant
    save(store, minute(11, 31) + timedelta(seconds=59, microseconds=999_000), Status.TIMEOUT)
    save(store, minute(12, 0) + timedelta(seconds=5))
    save(store, minute(12, 0) + timedelta(seconds=6))
    save(store, minute(12, 0) + timedelta(seconds=7), Status.RUNTIME_ERROR)
    save(store, NOW)  # the window's last instant
    save(store, minute(11, 30) + timedelta(seconds=59, microseconds=999_999))  # just before the window
    save(store, NOW + timedelta(seconds=1))  # after it (another replica's clock runs ahead)
    save(store, minute(12, 10), status=None)  # still running: no status word yet

    found = recent_activity(store, SINCE, NOW)

    assert (found.since, found.until) == (SINCE, NOW)
    assert found.per_minute == {
        minute(11, 31): {"ok": 1, "timeout": 1},
        minute(12, 0): {"ok": 2, "runtime_error": 1},
        minute(12, 30): {"ok": 1},
    }


def test_refusals_are_counted_from_the_audit_log_by_their_status_word(store: Store) -> None:
    save(store, minute(12, 1))
    audit_at(store, minute(12, 1) + timedelta(seconds=3), "execution.rejected", status="validation_rejected")
    audit_at(store, minute(12, 2), "execution.rejected", status="rejected", reason="rate")
    audit_at(store, minute(12, 2), "execution.rejected", status="rejected")
    audit_at(store, minute(12, 2), "execution.cancelled", execution="e" * 32)  # not a refusal
    audit_at(store, minute(12, 2), "execution.rejected", status="<b>not-a-status</b>")  # never reaches the page
    audit_at(store, minute(12, 2), "execution.rejected", reason="no status at all")
    audit_at(store, minute(11, 0), "execution.rejected", status="syntax_error")  # before the window

    found = recent_activity(store, SINCE, NOW)

    assert found.per_minute == {minute(12, 1): {"ok": 1, "validation_rejected": 1}, minute(12, 2): {"rejected": 2}}
    counts = ops.execution_counts(found)
    assert counts.totals == {"ok": 1, "rejected": 2, "validation_rejected": 1}
    assert [m.minute for m in counts.per_minute] == [minute(12, 1), minute(12, 2)]  # oldest first


def test_latency_samples_are_end_to_end_and_program_wall_of_finished_executions(store: Store) -> None:
    for i in range(1, 101):
        save(store, minute(12, 0) + timedelta(seconds=i / 10), took_ms=10 * i, wall_ms=i)
    save(store, minute(12, 5), status=None)  # running: no latency yet
    save(store, minute(11, 0), took_ms=99_999, wall_ms=99_999)  # outside the window

    found = recent_activity(store, SINCE, NOW)

    assert sorted(found.wall_ms) == [float(i) for i in range(1, 101)]
    assert sorted(round(ms) for ms in found.end_to_end_ms) == [10 * i for i in range(1, 101)]
    figures = ops.latency(found)
    assert figures.count == 100 and figures.window_minutes == 60
    assert figures.program_wall == ops.Percentiles(p50=50.5, p90=90.1, p99=99.0)
    assert figures.end_to_end == ops.Percentiles(p50=505.0, p90=901.0, p99=990.1)


def test_percentiles_interpolate_between_ranks_and_are_none_without_values() -> None:
    assert ops.percentiles([]) is None
    assert ops.percentiles([7.0]) == ops.Percentiles(p50=7.0, p90=7.0, p99=7.0)
    assert ops.percentiles([10.0, 0.0]) == ops.Percentiles(p50=5.0, p90=9.0, p99=9.9)


def test_the_latency_sample_is_capped_at_the_newest_executions(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(activity, "LATENCY_SAMPLE", 5)
    for i in range(1, 11):
        save(store, minute(12, i), wall_ms=i)

    found = recent_activity(store, SINCE, NOW)

    assert sorted(found.wall_ms) == [6.0, 7.0, 8.0, 9.0, 10.0]
    assert sum(sum(c.values()) for c in found.per_minute.values()) == 10  # counting is not sampled


def test_failures_are_the_newest_non_ok_finished_ones_with_their_key_name_capped(store: Store) -> None:
    key = store.create_key("ci", "standard", 1, 1)[0]
    for i in range(25):
        save(store, minute(12, 0) + timedelta(seconds=i), Status.RUNTIME_ERROR, key_id=key.id, message=f"exit {i}")
    save(store, minute(12, 1), Status.OK, key_id=key.id)  # ok: not a failure
    save(store, minute(12, 2), None, key_id=key.id)  # running: not finished
    save(store, minute(11, 0), Status.TIMEOUT, key_id=key.id)  # outside the window
    newest = save(store, minute(12, 3), Status.CAPACITY_UNAVAILABLE, message="x" * 1000)  # the CLI's: no key

    found = recent_activity(store, SINCE, NOW, failures=20)

    assert len(found.failures) == 20
    first = found.failures[0]
    assert (first.id, first.status, first.key, first.language) == (newest, "capacity_unavailable", None, "python")
    assert first.created_at == minute(12, 3) and first.created_at.tzinfo is not None
    assert len(first.message) == activity.MESSAGE_CHARS and first.message == "x" * 299 + "…"
    rest = found.failures[1:]
    assert [f.message for f in rest] == [f"exit {i}" for i in range(24, 5, -1)]  # newest first
    assert {f.key for f in rest} == {"ci"} and {f.status for f in rest} == {"runtime_error"}
    created = [f.created_at for f in found.failures]
    assert created == sorted(created, reverse=True)


def test_a_message_of_exactly_the_cap_is_kept_whole(store: Store) -> None:
    save(store, minute(12, 0), Status.RUNTIME_ERROR, message="y" * activity.MESSAGE_CHARS)
    (failure,) = recent_activity(store, SINCE, NOW).failures
    assert failure.message == "y" * activity.MESSAGE_CHARS


def test_an_empty_database_has_no_activity(store: Store) -> None:
    found = recent_activity(store, SINCE, NOW)
    assert (found.per_minute, found.end_to_end_ms, found.wall_ms, found.failures) == ({}, [], [], [])
    assert ops.latency(found).end_to_end is None and ops.execution_counts(found).totals == {}


def test_the_queries_use_the_created_at_index(db_path: Path) -> None:
    """Bounded by the window on an indexed column: SQLite's plan searches the index, never scans the table;
    the row reads have a LIMIT (the counts are grouped: at most a row per minute and status). (PostgreSQL's
    planner picks a scan for a table this small: its plan says nothing about a large one.)"""
    store = Store(f"sqlite:///{db_path}")
    save(store, minute(12, 0))
    selects: list[tuple[str, object]] = []

    def seen(_conn: object, _cursor: object, statement: str, params: object, _context: object, _many: bool) -> None:
        if "FROM executions" in statement:
            selects.append((statement, params))

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        recent_activity(store, SINCE, NOW)
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
    store.close()
    assert len(selects) == 3  # per minute, latency, failures
    with sqlite3.connect(db_path) as db:
        for statement, params in selects:
            plan = " ".join(str(row[-1]) for row in db.execute(f"EXPLAIN QUERY PLAN {statement}", params))
            assert "ix_executions_created_at" in plan and "SCAN executions" not in plan, (statement, plan)
            assert "GROUP BY" in statement or "LIMIT" in statement, statement


@pytest.mark.anyio
async def test_store_figures_are_read_once_for_concurrent_requests_and_reused_for_their_ttl(store: Store) -> None:
    figures = ops.StoreFigures(store, ttl_s=0.5)
    together = await asyncio.gather(*(figures.read() for _ in range(5)))
    assert all(found is together[0] for found in together)  # one read, shared
    assert together[0].per_minute == {}
    save(store, datetime.now(UTC) - timedelta(seconds=1))
    assert (await figures.read()) is together[0]  # within the TTL: the same answer, the new run not yet in it
    await asyncio.sleep(0.55)
    fresh = await figures.read()
    assert fresh is not together[0] and sum(sum(c.values()) for c in fresh.per_minute.values()) == 1


def test_a_dialect_that_cannot_group_by_minute_gets_the_same_figures_grouped_here(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The portable path (capped rows, grouped and subtracted in Python) agrees with the database's."""
    for i in range(6):
        save(store, minute(12, i % 3) + timedelta(seconds=i), Status.TIMEOUT if i % 2 else Status.OK, took_ms=10 * i)
    grouped = recent_activity(store, SINCE, NOW)
    monkeypatch.setattr(activity, "_minute_text", lambda dialect, column: None)
    monkeypatch.setattr(activity, "_elapsed_ms", lambda dialect: None)
    here = recent_activity(store, SINCE, NOW)
    assert (
        here.per_minute
        == grouped.per_minute
        == {
            minute(12, 0): {"ok": 1, "timeout": 1},
            minute(12, 1): {"ok": 1, "timeout": 1},
            minute(12, 2): {"ok": 1, "timeout": 1},
        }
    )
    assert sorted(round(ms) for ms in here.end_to_end_ms) == sorted(round(ms) for ms in grouped.end_to_end_ms)
    assert sorted(round(ms) for ms in here.end_to_end_ms) == [0, 10, 20, 30, 40, 50]
