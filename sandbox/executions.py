"""Executions with an identity: submitted, followed (events), cancelled, recorded.

The REST door (and later MCP) calls ``ExecutionManager``; it admits through the
service (rate, policy, validation) before answering, then runs the execution as
a task of its own, so a client that goes away does not stop it unless it asks
for cancellation. Output chunks are kept (up to the run's caps) for subscribers
that come late, and every finished execution is written to the store.
"""

from __future__ import annotations

import asyncio
import codecs
import hashlib
import logging
import signal
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sandbox.errors import NotFound, SandboxError
from sandbox.models import ApiKeyInfo, ExecutionRecord, ExecutionRequest, ExecutionResult, Status
from sandbox.resilience import KeyLimiter
from sandbox.service import ExecutionService, error_result
from sandbox.store import Store

log = logging.getLogger(__name__)
KEEP_FINISHED = 256  # finished executions kept in memory for late event subscribers


@dataclass(frozen=True)
class Event:
    """One server-sent event: ``stdout``/``stderr`` (text chunk) or ``result`` (the record)."""

    kind: str
    data: Any


@dataclass(eq=False)
class Execution:
    """One execution in this process."""

    record: ExecutionRecord
    key_id: str | None
    events: list[Event] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    release: Callable[[], None] = lambda: None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    saved: asyncio.Event = field(default_factory=asyncio.Event)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def publish(self, event: Event) -> None:
        self.events.append(event)
        async with self._changed:
            self._changed.notify_all()

    async def stream(self) -> AsyncIterator[Event]:
        """Every event from the first, then live ones, until the result."""
        sent = 0
        while True:
            while sent < len(self.events):
                event = self.events[sent]
                sent += 1
                yield event
                if event.kind == "result":
                    return
            async with self._changed:
                if sent == len(self.events):
                    await self._changed.wait()


class ExecutionManager:
    """See the module docstring."""

    def __init__(self, service: ExecutionService, store: Store) -> None:
        self.service = service
        self.store = store
        self.limiter = KeyLimiter()
        self._live: dict[str, Execution] = {}
        self._finished: list[str] = []

    async def submit(self, request: ExecutionRequest, key: ApiKeyInfo, *, record_now: bool = True) -> Execution:
        """Admit ``request`` for ``key`` (raises on refusal) and start it; returns at once.

        ``record_now``: write the running record before starting (needed when the caller
        answers 202 and may look it up elsewhere); the finished record is always written.
        """
        release = self.limiter.acquire(key.id, key.rate_per_min, key.max_concurrency)
        try:
            admitted = await self.service.admit(request, ceiling=key.policy)
        except SandboxError as exc:
            release()
            await asyncio.to_thread(
                self.store.audit, "execution.rejected", key.id, status=exc.status.value, reason=exc.message[:300]
            )
            raise
        except BaseException:
            release()
            raise
        record = ExecutionRecord(
            id=uuid.uuid4().hex,
            state="running",
            language=request.language,
            policy=admitted.policy.name,
            code_sha256=hashlib.sha256(request.code.encode()).hexdigest(),
            created_at=datetime.now(UTC),
        )
        execution = Execution(record=record, key_id=key.id, release=release)
        self._live[record.id] = execution
        if record_now:
            await asyncio.to_thread(self.store.save_execution, record, key.id)

        # One incremental decoder per stream: a chunk may end in the middle of a character.
        decoders = {kind: codecs.getincrementaldecoder("utf-8")(errors="replace") for kind in ("stdout", "stderr")}

        async def on_output(kind: str, chunk: bytes) -> None:
            text = decoders[kind].decode(chunk)
            if text:
                await execution.publish(Event(kind, text))

        async def run() -> None:
            try:
                result = await self.service.run(admitted, on_output)
            except asyncio.CancelledError:
                result = self._cancelled(execution)
                await asyncio.to_thread(self.store.audit, "execution.cancelled", key.id, execution=record.id)
            except Exception as exc:  # recorded as the execution's result
                if not isinstance(exc, SandboxError):
                    log.exception("execution %s failed", record.id)
                result = error_result(exc)
            finally:
                release()
            await self._finish(execution, result)

        execution.task = asyncio.create_task(run(), name=f"execution-{record.id}")
        return execution

    async def _finish(self, execution: Execution, result: ExecutionResult) -> None:
        record = ExecutionRecord.model_validate(
            {
                **execution.record.model_dump(),
                **result.model_dump(),
                "state": "done",
                "stdout_bytes": len(result.stdout.encode()),
                "stderr_bytes": len(result.stderr.encode()),
                "finished_at": datetime.now(UTC),
            }
        )
        execution.record = record
        await execution.publish(Event("result", record))
        execution.done.set()  # the caller answers now; the record is written meanwhile
        try:
            await asyncio.to_thread(self.store.save_execution, record, execution.key_id)
        except SandboxError:
            log.exception("could not record execution %s", record.id)
        finally:
            execution.saved.set()
        self._finished.append(record.id)
        while len(self._finished) > KEEP_FINISHED:
            self._live.pop(self._finished.pop(0), None)

    async def page(self, key: ApiKeyInfo, limit: int, offset: int) -> tuple[list[ExecutionRecord], int]:
        """A page of the key's executions from the store, once this process's finished ones are written."""
        finished = [e.saved.wait() for e in self._live.values() if e.key_id == key.id and e.done.is_set()]
        await asyncio.gather(*finished)
        return await asyncio.to_thread(self.store.list_executions, key.id, limit, offset)

    def live(self, execution_id: str, key: ApiKeyInfo) -> Execution:
        """A running or recently finished execution of ``key`` (``NotFound`` otherwise)."""
        execution = self._live.get(execution_id)
        if execution is None or execution.key_id != key.id:
            raise NotFound(f"no execution {execution_id!r} for this key in this process")
        return execution

    async def get(self, execution_id: str, key: ApiKeyInfo) -> ExecutionRecord:
        execution = self._live.get(execution_id)
        if execution is not None and execution.key_id == key.id:
            return execution.record
        record = await asyncio.to_thread(self.store.get_execution, execution_id, key.id)
        if record is None:
            raise NotFound(f"no execution {execution_id!r} for this key")
        return record

    async def cancel(self, execution_id: str, key: ApiKeyInfo) -> ExecutionRecord:
        """Kill a running execution (its container goes with it); a finished one is left as is."""
        execution = self.live(execution_id, key)
        task = execution.task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task})  # unlike gather, our own cancellation leaves the task alone
            if not execution.done.is_set():  # cancelled before its first step: finish it here
                execution.release()
                await asyncio.to_thread(self.store.audit, "execution.cancelled", key.id, execution=execution_id)
                await self._finish(execution, self._cancelled(execution))
        return execution.record

    @staticmethod
    def _cancelled(execution: Execution) -> ExecutionResult:
        return ExecutionResult(
            status=Status.KILLED,
            signal=signal.SIGKILL,
            stdout="".join(e.data for e in execution.events if e.kind == "stdout"),
            stderr="".join(e.data for e in execution.events if e.kind == "stderr"),
            wall_ms=int((datetime.now(UTC) - execution.record.created_at).total_seconds() * 1000),
            message="cancelled by the caller; the container was killed",
        )

    async def aclose(self) -> None:
        """Cancel what still runs; let finished executions finish writing their records."""
        pending = [e for e in self._live.values() if e.task is not None and not e.task.done()]
        for execution in pending:
            if not execution.done.is_set():
                execution.task.cancel()  # type: ignore[union-attr]
        await asyncio.gather(*(e.task for e in pending), return_exceptions=True)
