"""Live executions of this process, for the doors that follow them: REST and MCP.

``submit`` runs the refusing stages (admit, validate) in the caller's request,
so a refusal is the request's answer, then the rest (acquire, run, redact,
record) as a task of its own: a client that goes away does not stop it unless
it asks for cancellation. One-shot runs and session cells are submitted alike.
Finished executions stay in memory for a while (GET, late event subscribers):
the last ``KEEP_FINISHED``, within ``keep_finished_mb`` of output and events (a
run may print 16 MiB per stream); older ones are read from the store, whose
record has the same shape with each stream's head (``keep_output_bytes``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections import deque
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from sandbox.artifacts import inline
from sandbox.engine import OutputCallback
from sandbox.errors import CapacityUnavailable, NotFound, RequestRejected
from sandbox.models import Artifact, Caller, ExecutionRecord, ExecutionRequest
from sandbox.service import Event, Execution, ExecutionService, OpenSession

if TYPE_CHECKING:
    from sandbox.cluster.events import SharedEvents

log = logging.getLogger(__name__)
KEEP_FINISHED = 256  # finished executions kept in memory for late event subscribers


class ExecutionManager:
    """See the module docstring."""

    def __init__(self, service: ExecutionService) -> None:
        self.service = service
        self._live: dict[str, Execution] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        # The "running" record of a blocking (`wait=true`) execution, being written: a listing waits for it.
        self._listing: dict[str, asyncio.Future[None]] = {}
        self._finished: deque[tuple[str, int]] = deque()  # (id, bytes held), oldest first
        self.finished_bytes = 0
        self._keep_bytes = service.settings.keep_finished_mb << 20
        self._stopping = False
        self._mirrors: set[asyncio.Task[None]] = set()
        self._listener: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Scale-out: take the cancellations asked through other replicas for executions held here."""
        shared = self.service.shared_events
        if shared is not None and self._listener is None:
            self._listener = asyncio.create_task(self._listen(shared), name="cluster-cancellations")

    async def _listen(self, shared: SharedEvents) -> None:
        async for execution_id, key_id in shared.cancellations():
            execution = self._live.get(execution_id)
            if execution is not None and (execution.caller.key_id or "") == key_id:
                log.info("execution %s: cancelled through another replica", execution_id)
                await self.cancel(execution_id, execution.caller)

    @property
    def running(self) -> int:
        """Executions of this process started and without a result yet (one-shot runs and cells); one whose
        result is out while its record is written and its container removed is not counted."""
        return sum(1 for execution_id in self._tasks if not self._live[execution_id].done.is_set())

    async def submit(
        self,
        request: ExecutionRequest,
        caller: Caller,
        *,
        session: OpenSession | None = None,
        record_now: bool = False,
        on_output: OutputCallback | None = None,
    ) -> Execution:
        """Admit and validate ``request`` (raises on refusal), then start it; returns at once.

        ``record_now``: write the running record before starting (the caller answers
        202 and may look it up elsewhere). Otherwise (the caller waits for the result)
        it is written in the background, batched, so the key's listing shows the
        execution while it runs and another client can follow or cancel it; a quick
        run's result replaces it before it costs a row. The finished record is always written.
        """
        if self._stopping:
            raise CapacityUnavailable("the server is shutting down; retry on another one")
        execution = self.service.execution(request, caller, session)
        await execution.prepare()
        if self._stopping:  # the drain began while this one was validated: it would get no grace
            execution.release()
            raise CapacityUnavailable("the server is shutting down; retry on another one")
        if record_now:
            try:
                await self.service.save(execution.view, caller.key_id, urgent=True)
            except BaseException:
                execution.release()  # admitted but never started: give the caller's slot back
                raise
        else:
            listing = asyncio.ensure_future(self.service.save(execution.view, caller.key_id))
            listing.add_done_callback(_logged)
            self._listing[execution.id] = listing
        self._live[execution.id] = execution
        if self.service.shared_events is not None:  # scale-out: its events readable through every replica
            mirror = asyncio.create_task(self.service.shared_events.mirror(execution), name=f"mirror-{execution.id}")
            self._mirrors.add(mirror)
            mirror.add_done_callback(self._mirrors.discard)
        task = asyncio.create_task(execution.finish(on_output), name=f"execution-{execution.id}")
        self._tasks[execution.id] = task
        # A callback, not a `finally`: a task cancelled before its first step never runs its body.
        task.add_done_callback(lambda _: self._forget(execution.id))
        return execution

    def _forget(self, execution_id: str) -> None:
        """The execution's task is over: keep it in memory for a while (bounded in count and bytes),
        then only in the store."""
        self._tasks.pop(execution_id, None)
        self._listing.pop(execution_id, None)
        execution = self._live.get(execution_id)
        size = _held_bytes(execution) if execution is not None else 0
        self._finished.append((execution_id, size))
        self.finished_bytes += size
        while self._finished and (len(self._finished) > KEEP_FINISHED or self.finished_bytes > self._keep_bytes):
            old, held = self._finished.popleft()
            self.finished_bytes -= held
            self._live.pop(old, None)

    def live(self, execution_id: str, caller: Caller) -> Execution:
        """A running or recently finished execution of ``caller`` (``NotFound`` otherwise)."""
        execution = self._live.get(execution_id)
        if execution is None or execution.caller.key_id != caller.key_id:
            raise NotFound(f"no execution {execution_id!r} for this key in this process")
        return execution

    async def events(
        self, execution_id: str, caller: Caller, last_event_id: str | None
    ) -> tuple[int, AsyncIterator[Event]]:
        """An execution's events past the client's ``Last-Event-ID``: (how many it skips, the events).

        This process's own executions are read from memory; with scale-out, another replica's from
        their mirror in Redis (same events, same ids). ``NotFound`` when neither has it.
        """
        execution = self._live.get(execution_id)
        shared = self.service.shared_events
        if (execution is not None and execution.caller.key_id == caller.key_id) or shared is None:
            execution = self.live(execution_id, caller)
            after = resume_after(last_event_id, len(execution.events), execution_id)
            return after, execution.stream(after)
        after = resume_after(last_event_id, await shared.published(execution_id, caller.key_id), execution_id)
        return after, shared.stream(execution_id, after)

    async def get(self, execution_id: str, caller: Caller) -> ExecutionRecord:
        execution = self._live.get(execution_id)
        if execution is not None and execution.caller.key_id == caller.key_id:
            return execution.view
        store = self.service.store
        record = await asyncio.to_thread(store.get_execution, execution_id, caller.key_id) if store else None
        if record is None:
            raise NotFound(f"no execution {execution_id!r} for this key")
        return record

    async def artifact(self, execution_id: str, caller: Caller, name: str) -> tuple[Artifact, bytes]:
        """One artifact of the caller's execution: its entry and its bytes.

        ``NotFound`` says why when there are none: no such execution for this key, no such
        artifact, one that was skipped (and why), or one past the retention.
        """
        record = await self.get(execution_id, caller)
        if record.state != "done":
            raise NotFound(f"execution {execution_id!r} is still running: its artifacts come with its result")
        for index, entry in enumerate(record.artifacts):
            if entry.name != name:
                continue
            if entry.skipped is not None:
                raise NotFound(f"artifact {name!r} was not collected: {entry.skipped}")
            store = self.service.artifacts
            data = await store.read(execution_id, index) if store is not None else None
            if data is None:
                hours = self.service.settings.artifacts_retention_h
                raise NotFound(f"artifact {name!r} is no longer kept (artifacts are kept {hours:g} h)")
            return entry, data
        names = ", ".join(repr(a.name) for a in record.artifacts if a.skipped is None)[:300] or "none"
        raise NotFound(f"execution {execution_id!r} has no artifact {name!r}; it has: {names}")

    async def inlined(self, record: ExecutionRecord) -> ExecutionRecord:
        """``record`` with the bytes of each artifact within the inline cap in its ``content_base64``."""
        store = self.service.artifacts
        if store is None or not any(a.skipped is None and a.sha256 for a in record.artifacts):
            return record
        cap = self.service.settings.artifacts_inline_max_bytes
        entries = []
        for index, entry in enumerate(record.artifacts):
            data = await store.read(record.id, index) if entry.skipped is None and entry.size <= cap else None
            entries.append(inline(entry, data, cap))
        return record.model_copy(update={"artifacts": entries})

    async def page(self, caller: Caller, limit: int, offset: int) -> tuple[list[ExecutionRecord], int]:
        """A page of the caller's executions from the store, once this process's are written: the finished
        ones' results, and the running records of the blocking ones."""
        mine = [e for e in self._live.values() if e.caller.key_id == caller.key_id]
        finished = [e.saved.wait() for e in mine if e.done.is_set()]
        listing = [self._listing[e.id] for e in mine if not e.done.is_set() and e.id in self._listing]
        self.service.flush_records()
        await asyncio.gather(*finished)
        if listing:
            await asyncio.wait(listing)  # a failed write was logged; the listing shows what the store has
        store = self.service.store
        if store is None:
            return [], 0
        return await asyncio.to_thread(store.list_executions, caller.key_id, limit, offset)

    async def cancel(self, execution_id: str, caller: Caller) -> ExecutionRecord:
        """Kill a running execution (its container goes with it); a finished one is left as is.

        Scale-out: one held by another replica is cancelled there (asked over Redis), and its
        result is awaited here through its events (bounded), then read from the store.
        """
        mine = self._live.get(execution_id)
        shared = self.service.shared_events
        if shared is not None and (mine is None or mine.caller.key_id != caller.key_id):
            await shared.request_cancel(execution_id, caller.key_id)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.service.settings.kill_grace_s + 10):
                    async for event in shared.stream(execution_id):
                        if event.kind == "result" and isinstance(event.data, ExecutionRecord):
                            return event.data
            return await self.get(execution_id, caller)
        execution = self.live(execution_id, caller)
        task = self._tasks.get(execution_id)
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task})  # unlike gather, our own cancellation leaves the task alone
            if not execution.done.is_set():  # cancelled before its first step: finish it here
                await execution.abandon()
        return execution.view

    def stop_admitting(self) -> None:
        """Refuse new executions from now on (503: the server is shutting down)."""
        self._stopping = True

    async def drain(self, grace_s: float, hurry: asyncio.Event | None = None) -> None:
        """Refuse new work; let running executions finish for up to ``grace_s`` (or until ``hurry``), then kill
        the rest (``killed``, "server shutting down")."""
        self.stop_admitting()
        running = [task for task in self._tasks.values() if not task.done()]
        if running and grace_s > 0:
            log.info("shutting down: waiting up to %g s for %d running execution(s)", grace_s, len(running))
            waits: set[asyncio.Future[Any]] = set(running)
            hurried = asyncio.ensure_future(hurry.wait()) if hurry is not None else None
            if hurried is not None:
                waits.add(hurried)
            deadline = asyncio.get_running_loop().time() + grace_s
            while waits - {hurried} and (left := deadline - asyncio.get_running_loop().time()) > 0:
                done, waits = await asyncio.wait(waits, timeout=left, return_when=asyncio.FIRST_COMPLETED)
                if hurried is not None and hurried in done:
                    break
            if hurried is not None:
                hurried.cancel()
        await self._kill_running("server shutting down")

    async def aclose(self) -> None:
        """Refuse new work, kill what still runs (recorded as killed), let records be written."""
        self.stop_admitting()
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
        await self._kill_running("server shutting down")
        await asyncio.gather(*(e.saved.wait() for e in self._live.values() if e.done.is_set()))

    async def _kill_running(self, reason: str) -> None:
        tasks = [(execution_id, task) for execution_id, task in self._tasks.items() if not task.done()]
        if tasks:
            log.info("killing %d running execution(s): %s", len(tasks), reason)
        for execution_id, task in tasks:
            execution = self._live.get(execution_id)
            if execution is not None:
                execution.cancel_reason = reason
            task.cancel()
        await asyncio.gather(*(task for _, task in tasks), return_exceptions=True)
        for execution_id, _ in tasks:
            execution = self._live.get(execution_id)
            if execution is not None and not execution.done.is_set():
                await execution.abandon()


def resume_after(last_event_id: str | None, published: int, execution_id: str) -> int:
    """How many of an execution's events a reconnecting client already has, from its ``Last-Event-ID``.

    Event ids are positions in the execution's stream (1 is the first event); no header, or an empty
    one (EventSource's "no id"), means from the start. Anything else is a client's mistake, a 400
    naming the header: not a number, or past the last event this execution has sent so far.
    """
    if last_event_id is None or not last_event_id.strip():
        return 0
    text = last_event_id.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 12:
        raise RequestRejected(
            f"Last-Event-ID must be the id of an event of this stream, a whole number from 0 to {published}; "
            f"got {text[:40]!r}"
        )
    if int(text) > published:
        raise RequestRejected(
            f"Last-Event-ID {int(text)} is past the last event of execution {execution_id} ({published} so far)"
        )
    return int(text)


def _logged(writing: asyncio.Future[None]) -> None:
    """A running record that could not be written: the execution goes on; its result is written later."""
    if not writing.cancelled() and (error := writing.exception()) is not None:
        log.warning("could not write a running execution's record: %s", error)


def _held_bytes(execution: Execution) -> int:
    """What a finished execution holds in memory, roughly: its output events and the view's copy."""
    view = execution.view
    held = sys.getsizeof(view.stdout) + sys.getsizeof(view.stderr) + 2048
    return held + sum(sys.getsizeof(e.data) for e in execution.events if isinstance(e.data, str))
