"""RecordWriter on a real SQLite store and a real PostgreSQL one: batches, urgency, a bad record alone fails,
nothing lost on close; and on a PostgreSQL server that stops and starts again: an outage's records kept, then
written."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import anyio
import pytest

from sandbox.cluster.localservers import LocalPostgres
from sandbox.errors import SandboxError, StoreError, StoreUnavailable
from sandbox.models import ExecutionRecord, Status
from sandbox.store import RecordWriter, Store

pytestmark = pytest.mark.anyio


class CountingStore(Store):
    """A real store that remembers the size of every batch it was asked to write."""

    batches: list[int]

    def save_executions(self, batch: Sequence[tuple[ExecutionRecord, str | None]]) -> list[SandboxError | None]:
        self.batches.append(len(batch))
        return super().save_executions(batch)


@pytest.fixture
def store(db_url: str) -> Iterator[CountingStore]:
    made = CountingStore(db_url)
    made.batches = []
    yield made
    made.close()


def record(i: int) -> ExecutionRecord:
    return ExecutionRecord(id=f"{i:032d}", language="python", policy="standard", created_at=datetime.now(UTC))


async def test_records_arriving_together_are_written_in_one_batch(store: CountingStore) -> None:
    key = store.create_key("k", "standard", 1, 1)[0]
    writer = RecordWriter(store, delay_s=0.05)
    with anyio.fail_after(5):
        await asyncio.gather(*(writer.save(record(i), key.id) for i in range(20)))
    assert store.batches == [20]
    assert store.list_executions(key.id, 50, 0)[1] == 20
    await writer.aclose()


async def test_an_urgent_record_does_not_wait_for_company(store: CountingStore) -> None:
    key = store.create_key("k", "standard", 1, 1)[0]
    writer = RecordWriter(store, delay_s=5)
    started = time.monotonic()
    with anyio.fail_after(2):
        await writer.save(record(1), key.id, urgent=True)
    assert time.monotonic() - started < 1
    assert store.get_execution(record(1).id, key.id) is not None
    await writer.aclose()


async def test_a_bad_record_fails_alone(store: CountingStore) -> None:
    key = store.create_key("k", "standard", 1, 1)[0]
    writer = RecordWriter(store, delay_s=0.05)
    results = await asyncio.gather(
        writer.save(record(1), key.id), writer.save(record(2), "no-such-key"), return_exceptions=True
    )
    assert results[0] is None and isinstance(results[1], StoreError)
    assert store.get_execution(record(1).id, key.id) is not None
    await writer.aclose()


async def test_a_cancelled_caller_does_not_cancel_the_write_and_close_flushes(store: CountingStore) -> None:
    key = store.create_key("k", "standard", 1, 1)[0]
    writer = RecordWriter(store, delay_s=0.2)
    waiting = asyncio.create_task(writer.save(record(1), key.id))
    await asyncio.sleep(0.01)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    late = asyncio.create_task(writer.save(record(2), key.id))
    await asyncio.sleep(0)
    with anyio.fail_after(5):
        await writer.aclose()  # writes what is queued before it stops
        await late
    assert [store.get_execution(record(i).id, key.id) is not None for i in (1, 2)] == [True, True]


async def test_a_failing_database_fails_every_record_of_the_batch(store: CountingStore) -> None:
    key = store.create_key("k", "standard", 1, 1)[0]
    store.engine.dispose()
    store.close()

    def broken(batch: Sequence[tuple[ExecutionRecord, str | None]]) -> list[SandboxError | None]:
        raise RuntimeError("disk on fire")

    store.save_executions = broken  # type: ignore[method-assign]
    writer = RecordWriter(store, delay_s=0.01)
    results = await asyncio.gather(*(writer.save(record(i), key.id) for i in range(3)), return_exceptions=True)
    assert all(isinstance(r, StoreError) and "RuntimeError" in str(r) for r in results)
    await writer.aclose()


async def test_an_urgent_record_or_a_flush_cuts_a_gathering_short(store: CountingStore) -> None:
    key = store.create_key("k", "standard", 1, 1)[0]
    writer = RecordWriter(store, delay_s=5)
    gathering = asyncio.create_task(writer.save(record(1), key.id))
    await asyncio.sleep(0.05)  # the writer is now waiting for company
    started = time.monotonic()
    with anyio.fail_after(2):
        await writer.save(record(2), key.id, urgent=True)
        await gathering
    later = asyncio.create_task(writer.save(record(3), key.id))
    await asyncio.sleep(0.05)
    writer.flush()
    with anyio.fail_after(2):
        await later
    assert time.monotonic() - started < 1.5
    await writer.aclose()


async def test_a_record_queued_again_is_written_once_in_its_latest_state(store: CountingStore) -> None:
    """A blocking run's "running" record and its result, queued within one batch, cost one row write."""
    key = store.create_key("k", "standard", 1, 1)[0]
    writer = RecordWriter(store, delay_s=0.05)
    running = record(1).model_copy(update={"state": "running"})
    done = record(1).model_copy(update={"state": "done", "status": Status.OK, "stdout": "hi\n"})
    with anyio.fail_after(5):
        await asyncio.gather(writer.save(running, key.id), writer.save(done, key.id), writer.save(record(2), key.id))
    assert store.batches == [2]
    stored = store.get_execution(record(1).id, key.id)
    assert stored is not None and (stored.state, stored.status, stored.stdout) == ("done", "ok", "hi\n")
    await writer.aclose()


async def test_records_written_while_the_database_is_down_are_kept_and_written_when_it_is_back(
    own_postgres: LocalPostgres,
) -> None:
    store = Store(own_postgres.url)
    key = store.create_key("k", "standard", 1, 1)[0]
    writer = RecordWriter(store, delay_s=0.01, retry_s=0.2)
    await writer.save(record(1), key.id)
    own_postgres.stop()
    started = time.monotonic()
    with anyio.fail_after(15):
        results = await asyncio.gather(*(writer.save(record(i), key.id) for i in (2, 3)), return_exceptions=True)
    assert all(isinstance(r, StoreUnavailable) for r in results), results
    assert time.monotonic() - started < 10  # the waiters hear of the outage in seconds
    assert sorted(writer.kept) == [record(2).id, record(3).id]
    done = record(3).model_copy(update={"state": "done", "status": Status.OK, "stdout": "late\n"})
    with pytest.raises(StoreUnavailable):
        await writer.save(done, key.id)  # a newer state of a kept record replaces it
    assert len(writer.kept) == 2
    await asyncio.to_thread(own_postgres.start)
    with anyio.fail_after(30):
        while writer.kept:
            await asyncio.sleep(0.1)
    assert store.get_execution(record(2).id, key.id) is not None
    latest = store.get_execution(record(3).id, key.id)
    assert latest is not None and latest.stdout == "late\n"
    await writer.aclose()
    store.close()


async def test_closing_while_the_database_is_down_logs_what_was_not_written(
    own_postgres: LocalPostgres, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store(own_postgres.url)
    key = store.create_key("k", "standard", 1, 1)[0]
    writer = RecordWriter(store, delay_s=0.01, retry_s=0.2)
    own_postgres.stop()
    with pytest.raises(StoreUnavailable), anyio.fail_after(15):
        await writer.save(record(1), key.id)
    with anyio.fail_after(15):
        await writer.aclose()
    assert "1 execution record(s) not written: the database is still unreachable" in caplog.text
    store.close()
