"""ExecutionManager over an ExecutionService on fake backends and a real SQLite store."""

from __future__ import annotations

import asyncio
import hashlib
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest

from sandbox.config import PROJECT_ROOT, Settings
from sandbox.engine import (
    Backend,
    BackendSession,
    FakeBackend,
    ImageCatalog,
    Lease,
    OutputCallback,
    RunOutcome,
    RunSpec,
    deliver,
)
from sandbox.errors import EngineError, NotFound, RateLimited, RequestRejected, StoreError, ValidationRejected
from sandbox.executions import ExecutionManager
from sandbox.models import Caller, ExecutionRecord, ExecutionRequest, Status
from sandbox.service import Event, Execution, ExecutionService
from sandbox.store import Store
from sandbox.validation import PolicySet

pytestmark = pytest.mark.anyio

CATALOG = ImageCatalog(PROJECT_ROOT / "images")
SETTINGS = Settings()
POLICIES = PolicySet(SETTINGS.policies_dir, SETTINGS.default_policy)
CODE = "print('hello')"


def hello(spec: RunSpec) -> RunOutcome:
    return RunOutcome(status=Status.OK, exit_code=0, stdout=b"hello\n", stderr=b"warn\n", wall_ms=7)


class Programmed(Backend):
    """A backend whose runs are the ``run`` method of the subclass (no sessions)."""

    @asynccontextmanager
    async def acquire(self, spec: RunSpec) -> AsyncIterator[Lease]:
        backend = self

        class Held(Lease):
            async def run(self, spec: RunSpec, on_output: OutputCallback | None = None) -> RunOutcome:
                return await backend.run_program(spec, on_output)

        yield Held()

    async def run_program(self, spec: RunSpec, on_output: OutputCallback | None) -> RunOutcome:
        raise NotImplementedError

    async def open_session(self, spec: RunSpec, lifetime_s: float) -> BackendSession:
        raise EngineError("no sessions here")

    async def aclose(self) -> None:
        pass


class Gate(Programmed):
    """A run that prints its first chunk, then waits for ``opened`` (or to be cancelled)."""

    def __init__(self, first: bytes = b"first chunk\n") -> None:
        self.first = first
        self.started = asyncio.Event()
        self.opened = asyncio.Event()
        self.cancelled = 0
        self.runs = 0

    async def run_program(self, spec: RunSpec, on_output: OutputCallback | None) -> RunOutcome:
        self.runs += 1
        await deliver(on_output, "stdout", self.first)
        self.started.set()
        try:
            await self.opened.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        await deliver(on_output, "stdout", b"second\n")
        return RunOutcome(status=Status.OK, exit_code=0, stdout=self.first + b"second\n")


class Setup:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.store = Store(f"sqlite:///{tmp_path}/db.sqlite")
        self.managers: list[ExecutionManager] = []

    def manager(self, backend: Backend) -> ExecutionManager:
        service = ExecutionService(SETTINGS, backend, CATALOG, POLICIES, store=self.store)
        manager = ExecutionManager(service)
        self.managers.append(manager)
        return manager

    def key(self, name: str, policy: str = "standard", concurrency: int = 4, rate: int = 1000) -> Caller:
        return Caller.of(self.store.create_key(name, policy, concurrency, rate)[0])

    async def aclose(self) -> None:
        for manager in self.managers:
            await manager.aclose()
            await manager.service.aclose()
        self.store.close()


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    made = Setup(tmp_path)
    try:
        yield made
    finally:
        await made.aclose()


async def finished(execution: Execution) -> ExecutionRecord:
    with anyio.fail_after(5):
        await execution.done.wait()
        await execution.saved.wait()
    return execution.view


async def collect(execution: Execution) -> list[Event]:
    with anyio.fail_after(5):
        return [event async for event in execution.stream()]


# ------------------------------------------------------------------ lifecycle


async def test_submit_runs_to_a_done_record_that_is_stored(setup: Setup) -> None:
    backend = FakeBackend(hello)
    manager = setup.manager(backend)
    key = setup.key("k")
    execution = await manager.submit(ExecutionRequest(code=CODE), key)
    record = await finished(execution)

    assert record.state == "done"
    assert record.status is Status.OK
    assert (record.exit_code, record.stdout, record.stderr) == (0, "hello\n", "warn\n")
    assert (record.stdout_bytes, record.stderr_bytes, record.wall_ms) == (6, 5, 7)
    assert record.language == "python"
    assert record.policy == "standard"
    assert record.code_sha256 == hashlib.sha256(CODE.encode()).hexdigest()
    assert record.finished_at is not None and record.finished_at >= record.created_at
    assert backend.specs[0].files[0].data == CODE.encode()

    stored = setup.store.get_execution(record.id, key.key_id)
    assert stored == record


async def test_the_running_record_is_written_before_the_run(setup: Setup) -> None:
    seen: list[list[ExecutionRecord]] = []
    key = setup.key("k")

    def handler(spec: RunSpec) -> RunOutcome:
        seen.append(setup.store.list_executions(key.key_id, 10, 0)[0])
        return hello(spec)

    manager = setup.manager(FakeBackend(handler))
    record = await finished(await manager.submit(ExecutionRequest(code=CODE), key, record_now=True))
    assert [(r.id, r.state, r.status) for r in seen[0]] == [(record.id, "running", None)]

    seen.clear()
    record = await finished(await manager.submit(ExecutionRequest(code=CODE), key, record_now=False))
    assert record.id not in [r.id for r in seen[0]]  # not written until finished
    assert setup.store.get_execution(record.id, key.key_id) is not None


async def test_page_lists_the_keys_executions_newest_first(setup: Setup) -> None:
    manager = setup.manager(FakeBackend(hello))
    key, other = setup.key("k"), setup.key("other")
    first = await finished(await manager.submit(ExecutionRequest(code=CODE), key))
    second = await manager.submit(ExecutionRequest(code=CODE, stdin="x"), key, record_now=False)
    await manager.submit(ExecutionRequest(code=CODE), other)
    with anyio.fail_after(5):
        await second.done.wait()
        records, total = await manager.page(key, 10, 0)  # waits for the finished record to be written
    assert total == 2
    assert [r.id for r in records] == [second.view.id, first.id]
    assert all(r.state == "done" and r.status is Status.OK and r.stdout == "hello\n" for r in records)
    records, total = await manager.page(key, 1, 1)
    assert ([r.id for r in records], total) == ([first.id], 2)


async def test_get_returns_the_record_only_to_its_key(setup: Setup) -> None:
    manager = setup.manager(FakeBackend(hello))
    key, other = setup.key("k"), setup.key("other")
    record = await finished(await manager.submit(ExecutionRequest(code=CODE), key))
    assert (await manager.get(record.id, key)).status is Status.OK
    with pytest.raises(NotFound):
        await manager.get(record.id, other)
    with pytest.raises(NotFound):
        manager.live(record.id, other)
    with pytest.raises(NotFound):
        await manager.cancel(record.id, other)
    with pytest.raises(NotFound):
        await manager.get("0" * 32, key)


async def test_get_falls_back_to_the_store_in_another_process(setup: Setup) -> None:
    key = setup.key("k")
    record = await finished(await setup.manager(FakeBackend(hello)).submit(ExecutionRequest(code=CODE), key))
    fresh = setup.manager(FakeBackend(hello))  # knows nothing in memory
    with pytest.raises(NotFound):
        fresh.live(record.id, key)
    assert await fresh.get(record.id, key) == record
    with pytest.raises(NotFound):
        await fresh.get(record.id, setup.key("other"))


# --------------------------------------------------------------------- events


async def test_events_replay_output_chunks_then_the_result(setup: Setup) -> None:
    manager = setup.manager(FakeBackend(hello))
    execution = await manager.submit(ExecutionRequest(code=CODE), setup.key("k"))
    await finished(execution)
    events = await collect(execution)  # a late subscriber still sees everything
    assert [(e.kind, e.data) for e in events[:-1]] == [("stdout", "hello\n"), ("stderr", "warn\n")]
    assert events[-1].kind == "result"
    assert events[-1].data == execution.view
    assert events[-1].data.state == "done"


async def test_events_are_delivered_live(setup: Setup) -> None:
    gate = Gate()
    manager = setup.manager(gate)
    execution = await manager.submit(ExecutionRequest(code=CODE), setup.key("k"))
    stream = execution.stream()
    with anyio.fail_after(5):
        first = await anext(stream)  # arrives while the program is still running
        assert (first.kind, first.data) == ("stdout", "first chunk\n")
        assert not execution.done.is_set()
        gate.opened.set()
        rest = [event async for event in stream]
    assert [e.kind for e in rest] == ["stdout", "result"]
    assert rest[0].data == "second\n"
    assert rest[1].data.stdout == "first chunk\nsecond\n"


async def test_a_character_split_across_chunks_survives_streaming(setup: Setup) -> None:
    class Split(Programmed):
        async def run_program(self, spec: RunSpec, on_output: OutputCallback | None) -> RunOutcome:
            data = "é".encode()
            await deliver(on_output, "stdout", data[:1])
            await deliver(on_output, "stdout", data[1:])
            return RunOutcome(status=Status.OK, exit_code=0, stdout=data)

    execution = await setup.manager(Split()).submit(ExecutionRequest(code=CODE), setup.key("k"))
    events = await collect(execution)
    assert "".join(e.data for e in events if e.kind == "stdout") == "é"


# --------------------------------------------------------------------- cancel


async def test_cancel_kills_a_running_execution_and_keeps_its_output(setup: Setup) -> None:
    gate = Gate()
    manager = setup.manager(gate)
    key = setup.key("k", concurrency=1)
    execution = await manager.submit(ExecutionRequest(code=CODE), key)
    with anyio.fail_after(5):
        await gate.started.wait()
        record = await manager.cancel(execution.view.id, key)
    assert gate.cancelled == 1
    assert record.state == "done"
    assert record.status is Status.KILLED
    assert record.signal == signal.SIGKILL
    assert record.stdout == "first chunk\n"
    assert "cancelled" in record.message

    events = await collect(execution)
    assert [e.kind for e in events] == ["stdout", "result"]
    assert events[-1].data.status is Status.KILLED

    await finished(execution)
    stored = setup.store.get_execution(record.id, key.key_id)
    assert stored is not None
    assert (stored.status, stored.stdout) == (Status.KILLED, "first chunk\n")
    cancelled = [e for e in setup.store.audit_events() if e["event"] == "execution.cancelled"]
    assert cancelled == [
        {
            "at": cancelled[0]["at"],
            "key_id": key.key_id,
            "event": "execution.cancelled",
            "detail": {"execution": record.id},
        }
    ]
    # The slot came back: a key limited to one execution can run again.
    gate.opened.set()
    await finished(await manager.submit(ExecutionRequest(code=CODE), key))


async def test_cancel_of_a_finished_execution_changes_nothing(setup: Setup) -> None:
    manager = setup.manager(FakeBackend(hello))
    key = setup.key("k")
    record = await finished(await manager.submit(ExecutionRequest(code=CODE), key))
    assert await manager.cancel(record.id, key) == record
    assert (await manager.get(record.id, key)).status is Status.OK


async def test_cancel_right_after_submit_finishes_the_execution(setup: Setup) -> None:
    gate = Gate()
    manager = setup.manager(gate)
    key = setup.key("k", concurrency=1)
    execution = await manager.submit(ExecutionRequest(code=CODE), key)
    with anyio.fail_after(0.5):
        record = await manager.cancel(execution.view.id, key)  # no await in between: the run has not started
    assert record.status is Status.KILLED
    assert execution.done.is_set()
    gate.opened.set()
    await manager.submit(ExecutionRequest(code=CODE), key)  # the slot was released


class SlowCleanup(Gate):
    """Like Gate, but a cancelled run takes until ``cleaned`` to go (as a container kill can)."""

    def __init__(self) -> None:
        super().__init__()
        self.cleaned = asyncio.Event()

    async def run_program(self, spec: RunSpec, on_output: OutputCallback | None) -> RunOutcome:
        try:
            return await super().run_program(spec, on_output)
        except asyncio.CancelledError:
            await self.cleaned.wait()
            raise


async def test_cancel_does_not_swallow_its_callers_cancellation(setup: Setup) -> None:
    backend = SlowCleanup()
    manager = setup.manager(backend)
    key = setup.key("k")
    execution = await manager.submit(ExecutionRequest(code=CODE), key)
    try:
        with anyio.fail_after(5):
            await backend.started.wait()
        with pytest.raises(TimeoutError), anyio.fail_after(0.2):
            await manager.cancel(execution.view.id, key)
    finally:
        backend.cleaned.set()
    assert (await finished(execution)).status is Status.KILLED


# ------------------------------------------------------------------ admission


async def test_a_validation_denial_is_raised_audited_and_never_run(setup: Setup) -> None:
    backend = FakeBackend(hello)
    manager = setup.manager(backend)
    key = setup.key("k", concurrency=1)
    with pytest.raises(ValidationRejected) as caught:
        await manager.submit(ExecutionRequest(code="import subprocess\nsubprocess.run(['id'])"), key)
    assert "import.denied" in [f.rule_id for f in caught.value.findings]
    assert backend.specs == []
    assert setup.store.list_executions(key.key_id, 10, 0) == ([], 0)

    (event,) = [e for e in setup.store.audit_events() if e["event"] == "execution.rejected"]
    assert event["key_id"] == key.key_id
    assert event["detail"]["status"] == "validation_rejected"
    assert "subprocess" in event["detail"]["reason"]
    # The refusal gave its concurrency slot back.
    await finished(await manager.submit(ExecutionRequest(code=CODE), key))


async def test_the_keys_concurrency_limit_is_enforced_and_released(setup: Setup) -> None:
    gate = Gate()
    manager = setup.manager(gate)
    key = setup.key("k", concurrency=1)
    first = await manager.submit(ExecutionRequest(code=CODE), key)
    with anyio.fail_after(5):
        await gate.started.wait()
    with pytest.raises(RateLimited) as caught:
        await manager.submit(ExecutionRequest(code=CODE), key)
    assert caught.value.retry_after_s >= 1
    assert gate.runs == 1

    other = setup.key("other", concurrency=1)  # another key is not held back
    await manager.submit(ExecutionRequest(code=CODE), other)

    gate.opened.set()
    await finished(first)
    await finished(await manager.submit(ExecutionRequest(code=CODE), key))
    assert gate.runs == 3


async def test_the_keys_rate_limit_is_enforced(setup: Setup) -> None:
    manager = setup.manager(FakeBackend(hello))
    key = setup.key("k", rate=2)
    for _ in range(2):
        await finished(await manager.submit(ExecutionRequest(code=CODE), key))
    with pytest.raises(RateLimited, match="2 executions per minute"):
        await manager.submit(ExecutionRequest(code=CODE), key)


@pytest.mark.parametrize(("asked", "allowed"), [("permissive", False), ("standard", False), ("strict", True)])
async def test_a_strict_key_cannot_ask_for_a_looser_policy(setup: Setup, asked: str, allowed: bool) -> None:
    backend = FakeBackend(hello)
    manager = setup.manager(backend)
    key = setup.key("k", policy="strict", concurrency=1)
    request = ExecutionRequest(code=CODE, policy=asked)
    if allowed:
        assert (await finished(await manager.submit(request, key))).policy == "strict"
        return
    with pytest.raises(RequestRejected, match=f"policy '{asked}' is looser than this key's tier 'strict'") as caught:
        await manager.submit(request, key)
    assert type(caught.value) is RequestRejected
    assert backend.specs == []
    assert [e["event"] for e in setup.store.audit_events(limit=1)] == ["execution.rejected"]
    # Unset, the policy is the key's own tier.
    assert (await finished(await manager.submit(ExecutionRequest(code=CODE), key))).policy == "strict"


async def test_a_standard_key_may_ask_for_strict(setup: Setup) -> None:
    manager = setup.manager(FakeBackend(hello))
    key = setup.key("k")
    record = await finished(await manager.submit(ExecutionRequest(code=CODE, policy="strict"), key))
    assert record.policy == "strict"


async def test_an_engine_failure_is_recorded_as_internal_error(setup: Setup) -> None:
    def broken(spec: RunSpec) -> RunOutcome:
        raise RuntimeError("docker said no: /var/run/secret")

    manager = setup.manager(FakeBackend(broken))
    key = setup.key("k", concurrency=1)
    record = await finished(await manager.submit(ExecutionRequest(code=CODE), key))
    assert record.status is Status.INTERNAL_ERROR
    assert record.message == "internal error"
    assert setup.store.get_execution(record.id, key.key_id) == record
    await finished(await manager.submit(ExecutionRequest(code=CODE), key))  # slot released


async def test_aclose_cancels_what_still_runs(setup: Setup) -> None:
    gate = Gate()
    manager = setup.manager(gate)
    key = setup.key("k")
    execution = await manager.submit(ExecutionRequest(code=CODE), key)
    with anyio.fail_after(5):
        await gate.started.wait()
        await manager.aclose()
    assert execution.view.status is Status.KILLED
    assert gate.cancelled == 1


async def test_a_failed_running_record_gives_the_slot_back(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    backend = FakeBackend(hello)
    manager = setup.manager(backend)
    key = setup.key("k", concurrency=1)

    async def broken(record: ExecutionRecord, key_id: str | None, *, urgent: bool = False) -> None:
        raise StoreError("could not save an execution: OperationalError")

    monkeypatch.setattr(manager.service, "save", broken)
    with pytest.raises(StoreError):
        await manager.submit(ExecutionRequest(code=CODE), key, record_now=True)
    assert backend.specs == [], "it never started"
    monkeypatch.undo()
    await finished(await manager.submit(ExecutionRequest(code=CODE), key))  # concurrency 1: the slot is free
