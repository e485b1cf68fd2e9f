"""Execution records written in batches, off the request path: one wake-up and one transaction for many.

Every execution ends with a record write. Done one at a time on a worker thread,
each write cost more than a millisecond of the service's CPU, mostly in thread
wake-ups and in the interpreter lock passing back and forth with the event
loop, which was meanwhile serving the next request. ``RecordWriter`` gathers the
records that arrive within ``delay_s`` (250 ms) and writes them together in one
thread hop, after the answers being sent at that moment are out (``aftercare.quiet``,
at most ``QUIET_WAIT_S``: the write's thread would compete with them); a reader
that needs them now (a listing) asks for ``flush``. ``save`` returns once its
record is written (or raises the record's ``StoreError``); a caller that is
cancelled meanwhile does not cancel the write. Records of one
execution queued together are written once, the latest: a quick run's "running"
record (written so a listing finds a blocking run) costs no row of its own.

While the database is unreachable (``StoreUnavailable``) the records are not lost:
their waiters hear the error at once (the result was already given; nobody waits
for an outage), and the records are kept, the latest of each execution, and written
again every ``retry_s`` (doubling up to ``MAX_RETRY_S``) until the database answers;
at most ``max_kept`` of them (the oldest go first, logged). ``aclose`` tries once
more and logs what it could not write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sandbox import aftercare
from sandbox.errors import SandboxError, StoreError, StoreUnavailable
from sandbox.models import ExecutionRecord
from sandbox.store.store import Store

log = logging.getLogger(__name__)

_Item = tuple[ExecutionRecord, str | None, "asyncio.Future[None]"]
#: The longest wait between two attempts to write the kept records of an outage.
MAX_RETRY_S = 10.0
#: How long a batch nobody waits for yields to answers being sent (``aftercare.quiet``).
QUIET_WAIT_S = 0.1


class RecordWriter:
    """See the module docstring. ``aclose`` writes whatever is still queued."""

    def __init__(
        self,
        store: Store,
        *,
        delay_s: float = 0.25,
        max_batch: int = 500,
        retry_s: float = 0.5,
        max_kept: int = 10_000,
    ) -> None:
        self.store = store
        self._delay_s = delay_s
        self._max_batch = max_batch
        self._first_retry_s = self._retry_s = retry_s
        self._max_kept = max_kept
        #: Records an unreachable database did not take, by execution id (oldest first), written again later.
        self.kept: dict[str, tuple[ExecutionRecord, str | None]] = {}
        self._queue: list[_Item] = []
        self._writing = False
        self._wake: asyncio.Event | None = None  # something is queued
        self._hurry: asyncio.Event | None = None  # ... and someone waits for it: stop gathering
        self._task: asyncio.Task[None] | None = None

    async def save(self, record: ExecutionRecord, key_id: str | None, *, urgent: bool = False) -> None:
        """Queue ``record`` and wait until it is written; ``urgent``: without waiting for others."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_retrieve)  # a cancelled caller's error is not "never retrieved"
        self._queue.append((record, key_id, future))
        if self._task is None:
            self._wake, self._hurry = asyncio.Event(), asyncio.Event()
            self._task = asyncio.create_task(self._run(), name="record-writer")
        assert self._wake is not None and self._hurry is not None
        self._wake.set()
        if urgent:
            self._hurry.set()
        await asyncio.shield(future)

    def flush(self) -> None:
        """Write what is queued now rather than after the gathering delay."""
        if self._queue and self._hurry is not None:
            self._hurry.set()

    async def aclose(self) -> None:
        """Write what is queued, then stop."""
        if self._task is None:
            return
        assert self._wake is not None and self._hurry is not None
        while self._queue or self._writing:
            self._wake.set()
            self._hurry.set()
            await asyncio.sleep(0.005)
        while not self._task.done():  # again if need be: 3.11's wait_for can swallow a cancellation that
            self._task.cancel()  # comes as its wait ends (the gathering's, hurried by the loop above)
            await asyncio.wait({self._task}, timeout=0.05)
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None
        if self.kept:
            await self._write([])  # a last try
        if self.kept:
            log.error("%d execution record(s) not written: the database is still unreachable", len(self.kept))

    async def _run(self) -> None:
        assert self._wake is not None and self._hurry is not None
        while True:
            if self.kept:  # an outage: try again after a while, or with the next record
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._retry_s)
            else:
                await self._wake.wait()
            if self._wake.is_set():
                self._wake.clear()
                with contextlib.suppress(TimeoutError):  # gather what arrives meanwhile, unless hurried
                    await asyncio.wait_for(self._hurry.wait(), self._delay_s)
            if not self._hurry.is_set():  # nobody waits: let the answers being sent go out first
                await aftercare.quiet(QUIET_WAIT_S)
            self._hurry.clear()
            if self.kept and not self._queue:
                self._writing = True
                try:
                    await self._write([])
                finally:
                    self._writing = False
            while self._queue:
                batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
                self._writing = True
                try:
                    await self._write(batch)
                finally:
                    self._writing = False

    async def _write(self, batch: list[_Item]) -> None:
        # One row per execution: a record queued again before it was written (a run's "running" record,
        # then its result) is written once, in its latest state, and both waiters hear how that went.
        # Records kept from an outage go first: a newer state of the same execution replaces them.
        latest, self.kept = self.kept, {}
        latest.update({record.id: (record, key_id) for record, key_id, _ in batch})
        if not latest:
            return
        errors: list[SandboxError | None]
        try:
            errors = await asyncio.to_thread(self.store.save_executions, list(latest.values()))
        except Exception as exc:  # the database itself failed: every record of the batch
            log.exception("could not write %d execution record(s)", len(latest))
            errors = [StoreError(f"could not save an execution: {type(exc).__name__}")] * len(latest)
        error_of = dict(zip(latest, errors, strict=True))
        self._keep({rid: latest[rid] for rid, error in error_of.items() if isinstance(error, StoreUnavailable)})
        for record, _, future in batch:
            error = error_of[record.id]
            if future.done():
                continue
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)

    def _keep(self, unwritten: dict[str, tuple[ExecutionRecord, str | None]]) -> None:
        """Keep what an unreachable database did not take (bounded), and back off; reset once it answers."""
        if not unwritten:
            self._retry_s = self._first_retry_s
            return
        self.kept = {**unwritten, **self.kept}  # anything queued meanwhile is newer
        while len(self.kept) > self._max_kept:
            dropped = next(iter(self.kept))
            del self.kept[dropped]
            log.error("dropped the execution record %s: more than %d kept while the database is unreachable",
                      dropped, self._max_kept)  # fmt: skip
        log.warning("keeping %d execution record(s) until the database answers", len(self.kept))
        self._retry_s = min(self._retry_s * 2, MAX_RETRY_S)


def _retrieve(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()
