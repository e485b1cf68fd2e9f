"""The staged Execution on the FakeBackend: one-shot runs and session cells go through the same stages.

Stage order, a stage called out of order, cancellation at each stage (what is
released, what is recorded), and the caller's limits and the size caps applied
to cells exactly as to one-shot runs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import anyio
import pytest

from sandbox.config import PROJECT_ROOT, Settings
from sandbox.engine import FakeBackend, ImageCatalog, RunOutcome, RunSpec
from sandbox.errors import PayloadTooLarge, PoolExhausted, RateLimited, RequestRejected, ValidationRejected
from sandbox.executions import ExecutionManager
from sandbox.models import Caller, ExecutionRequest, Limits, SessionRequest, Status
from sandbox.service import Execution, ExecutionService, OpenSession, Stage, StageOrderError
from sandbox.sessions import SessionManager
from sandbox.store import Store
from sandbox.validation import PolicySet, Verdict

pytestmark = pytest.mark.anyio

CATALOG = ImageCatalog(PROJECT_ROOT / "images")
CODE = "print('hello')"


def hello(spec: RunSpec) -> RunOutcome:
    return RunOutcome(status=Status.OK, exit_code=0, stdout=b"hello\n", wall_ms=3)


class Held:
    """An async handler that blocks every run until ``release`` (and counts cancellations)."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.cancelled = 0

    async def __call__(self, spec: RunSpec) -> RunOutcome:
        self.started.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return hello(spec)


class World:
    """A service on a FakeBackend with a real SQLite store, and keys for it."""

    def __init__(self, tmp_path: Path, handler: Callable[[RunSpec], RunOutcome | Awaitable[RunOutcome]], **kw: object):
        self.settings = Settings(state_dir=tmp_path, **kw)  # type: ignore[arg-type]
        self.store = Store(f"sqlite:///{tmp_path}/db.sqlite")
        self.backend = FakeBackend(handler, max_concurrency=int(kw.get("max_concurrency", 16)), queue_timeout_s=5)
        policies = PolicySet(self.settings.policies_dir, self.settings.default_policy)
        self.service = ExecutionService(self.settings, self.backend, CATALOG, policies, store=self.store)
        self.manager = ExecutionManager(self.service)

    def key(self, name: str, concurrency: int = 4, rate: int = 1000, policy: str = "standard") -> Caller:
        return Caller.of(self.store.create_key(name, policy, concurrency, rate)[0])

    async def session(self, caller: Caller, **request: object) -> OpenSession:
        return await self.service.open_session(SessionRequest(**request), caller, "s" * 32)  # type: ignore[arg-type]

    def cell(self, session: OpenSession, code: str = CODE, **limits: float) -> ExecutionRequest:
        return ExecutionRequest(
            language=session.language, code=code, limits=Limits(**limits), policy=session.policy.name
        )

    def audited(self, event: str) -> list[dict[str, object]]:
        return [e for e in self.store.audit_events(limit=500) if e["event"] == event]


@pytest.fixture
async def world_factory(tmp_path: Path) -> AsyncIterator[Callable[..., World]]:
    made: list[World] = []

    def make(handler: Callable[[RunSpec], RunOutcome | Awaitable[RunOutcome]] = hello, **kw: object) -> World:
        world = World(tmp_path / str(len(made)), handler, **kw)
        made.append(world)
        return world

    (tmp_path / "0").mkdir()
    for i in range(1, 4):
        (tmp_path / str(i)).mkdir()
    try:
        yield make
    finally:
        for world in made:
            await world.manager.aclose()
            await world.service.aclose()
            world.store.close()


KINDS = ["one-shot", "cell"]


async def new_execution(world: World, kind: str, caller: Caller, code: str = CODE, **limits: float) -> Execution:
    """A NEW execution of ``code``: a one-shot run, or a cell of a freshly opened session."""
    if kind == "one-shot":
        return world.service.execution(ExecutionRequest(code=code, limits=Limits(**limits)), caller)
    session = await world.session(caller)
    return world.service.execution(world.cell(session, code, **limits), caller, session)


# ------------------------------------------------------------------- order


@pytest.mark.parametrize("kind", KINDS)
async def test_each_stage_moves_one_step_in_order(world_factory: Callable[..., World], kind: str) -> None:
    world = world_factory()
    caller = world.key("k")
    execution = await new_execution(world, kind, caller)
    seen = [execution.stage]
    await execution.admit()
    seen.append(execution.stage)
    await execution.validate()
    seen.append(execution.stage)
    async with execution.acquire() as lease:
        seen.append(execution.stage)
        await execution.run(lease)
        seen.append(execution.stage)
    execution.redact()
    seen.append(execution.stage)
    await execution.record()
    seen.append(execution.stage)
    assert seen == [
        Stage.NEW,
        Stage.ADMITTED,
        Stage.VALIDATED,
        Stage.ACQUIRED,
        Stage.RAN,
        Stage.REDACTED,
        Stage.RECORDED,
    ]
    assert execution.view.state == "done" and execution.view.status is Status.OK
    stored = world.store.get_execution(execution.id, caller.key_id)
    assert stored is not None and stored.stdout == "hello\n"
    assert stored.session_id == (execution.session.id if execution.session else None)
    mode = world.backend.specs[-1].mode
    assert mode == ("cell" if kind == "cell" else "python")


@pytest.mark.parametrize("kind", KINDS)
async def test_a_stage_out_of_order_raises_naming_the_stage(world_factory: Callable[..., World], kind: str) -> None:
    world = world_factory()
    execution = await new_execution(world, kind, world.key("k"))
    with pytest.raises(StageOrderError, match="cannot validate in stage 'new'; it must be 'admitted'"):
        await execution.validate()
    await execution.admit()
    with pytest.raises(StageOrderError, match="cannot admit in stage 'admitted'"):
        await execution.admit()
    with pytest.raises(StageOrderError, match="cannot acquire in stage 'admitted'"):
        async with execution.acquire():
            pass
    with pytest.raises(StageOrderError, match="cannot redact in stage 'admitted'"):
        execution.redact()
    with pytest.raises(StageOrderError, match="cannot record in stage 'admitted'"):
        await execution.record()
    await execution.validate()
    async with execution.acquire() as lease:
        await execution.run(lease)
        with pytest.raises(StageOrderError, match="cannot run in stage 'ran'"):
            await execution.run(lease)
    assert len(world.backend.specs) == (2 if kind == "cell" else 1)  # the session's opening, then the cell


@pytest.mark.parametrize("kind", KINDS)
async def test_every_line_an_execution_logs_carries_its_id(
    world_factory: Callable[..., World], kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    world = world_factory()
    execution = await new_execution(world, kind, world.key("k"))
    with caplog.at_level(logging.DEBUG, logger="sandbox.service"):
        await execution.prepare()
        await execution.finish()
    lines = [r for r in caplog.records if r.name == "sandbox.service"]
    assert len(lines) >= 3  # admitted, acquired, the result
    # The id is a field of every line (the log formatter writes it), inside a stage or not.
    assert all(getattr(r, "execution_id", None) == execution.id for r in lines)
    assert all(getattr(r, "key", None) == "k" for r in lines)
    assert any(r.getMessage() == "ok in 3 ms" for r in lines)


# ---------------------------------------------------------------- cancellation


@pytest.mark.parametrize("kind", KINDS)
async def test_cancelled_while_validating_releases_the_callers_slot_and_records_nothing(
    world_factory: Callable[..., World], kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = world_factory()
    caller = world.key("k", concurrency=1)
    execution = await new_execution(world, kind, caller)
    entered = asyncio.Event()
    real_validate = world.service.validate

    async def slow_validate(*args: object) -> Verdict:
        entered.set()
        await asyncio.sleep(30)
        raise AssertionError("not reached")

    monkeypatch.setattr(world.service, "validate", slow_validate)
    task = asyncio.create_task(execution.prepare())
    with anyio.fail_after(5):
        await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert execution.stage is Stage.REFUSED
    assert world.store.list_executions(caller.key_id, 10, 0) == ([], 0)
    monkeypatch.setattr(world.service, "validate", real_validate)
    again = await new_execution(world, kind, caller)  # concurrency 1: the slot came back
    await again.prepare()
    await again.finish()
    assert again.view.status is Status.OK


# One-shot only: a cell waits for no backend slot (its session holds one for its life).
@pytest.mark.parametrize("kind", ["one-shot"])
async def test_cancelled_while_acquiring_records_killed_and_releases_everything(
    world_factory: Callable[..., World], kind: str
) -> None:
    held = Held()
    world = world_factory(held, max_concurrency=1)
    caller = world.key("k", concurrency=4)
    blocker = world.service.execution(ExecutionRequest(code=CODE), caller)  # holds the one backend slot
    await blocker.prepare()
    blocking = asyncio.create_task(blocker.finish())
    with anyio.fail_after(5):
        await held.started.wait()

    execution = await new_execution(world, kind, caller)
    await execution.prepare()
    task = asyncio.create_task(execution.finish())
    await asyncio.sleep(0.05)
    assert execution.stage is Stage.VALIDATED, "it waits for a slot"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert execution.stage is Stage.RECORDED
    assert execution.view.status is Status.KILLED and execution.view.signal is None
    assert execution.view.message == "cancelled by the caller"
    assert world.audited("execution.cancelled")[0]["detail"] == {"execution": execution.id}
    held.release.set()
    await blocking
    assert blocker.view.status is Status.OK


@pytest.mark.parametrize("kind", KINDS)
async def test_cancelled_while_running_kills_records_and_gives_the_slots_back(
    world_factory: Callable[..., World], kind: str
) -> None:
    held = Held()
    world = world_factory(held, max_concurrency=1)
    caller = world.key("k", concurrency=1)
    execution = await new_execution(world, kind, caller)
    submitted = await world.manager.submit(execution.request, caller, session=execution.session)
    with anyio.fail_after(5):
        await held.started.wait()
    view = await world.manager.cancel(submitted.id, caller)
    assert held.cancelled == 1
    assert (view.status, view.signal, view.message) == (
        Status.KILLED,
        9,
        "cancelled by the caller; the container was killed",
    )
    stored = world.store.get_execution(submitted.id, caller.key_id)
    assert stored is not None and stored.status is Status.KILLED
    if kind == "cell":
        assert submitted.session is not None
    held.release.set()
    # Both the caller's slot (concurrency 1) and the backend's (max 1) came back.
    after = await world.manager.submit(ExecutionRequest(code=CODE), caller)
    with anyio.fail_after(5):
        await after.done.wait()
    assert after.view.status is Status.OK


async def test_a_cell_cancelled_before_its_first_step_is_finished_by_the_manager(
    world_factory: Callable[..., World],
) -> None:
    world = world_factory(Held())
    caller = world.key("k", concurrency=1)
    session = await world.session(caller)
    execution = await world.manager.submit(world.cell(session), caller, session=session)
    view = await world.manager.cancel(execution.id, caller)  # no await in between: the task never ran
    assert view.status is Status.KILLED and execution.stage is Stage.RECORDED
    await world.manager.submit(ExecutionRequest(code=CODE), caller)  # the caller's slot is free


# ------------------------------------------------------------ limits on cells


@pytest.mark.parametrize("kind", KINDS)
async def test_the_callers_rate_limit_counts_cells_and_runs_alike(
    world_factory: Callable[..., World], kind: str
) -> None:
    world = world_factory()
    caller = world.key("k", rate=2)
    for _ in range(2):
        execution = await new_execution(world, kind, caller)
        await execution.prepare()
        await execution.finish()
    refused = await new_execution(world, kind, caller)
    with pytest.raises(RateLimited, match="2 executions per minute"):
        await refused.prepare()
    assert refused.stage is Stage.REFUSED
    assert world.audited("execution.rejected")[0]["detail"]["status"] == "rejected"  # type: ignore[index]


async def test_the_callers_concurrency_counts_cells(world_factory: Callable[..., World]) -> None:
    held = Held()
    world = world_factory(held)
    caller = world.key("k", concurrency=1)
    session = await world.session(caller)
    first = await world.manager.submit(world.cell(session), caller, session=session)
    with anyio.fail_after(5):
        await held.started.wait()
    with pytest.raises(RateLimited, match="already runs 1 executions"):
        await world.manager.submit(ExecutionRequest(code=CODE), caller)
    other = await world.session(caller)
    with pytest.raises(RateLimited):
        await world.manager.submit(world.cell(other), caller, session=other)
    held.release.set()
    with anyio.fail_after(5):
        await first.done.wait()


async def test_a_session_holds_one_execution_slot_for_its_life(world_factory: Callable[..., World]) -> None:
    """Its container counts against the global limit whether a cell runs or not; its cells take no other."""
    world = world_factory(max_concurrency=1)
    world.backend._queue_timeout_s = 0.1  # fail fast rather than wait
    caller = world.key("k")
    session = await world.session(caller)
    run = await world.manager.submit(ExecutionRequest(code=CODE), caller)
    with anyio.fail_after(5):
        await run.done.wait()
    assert run.view.status is Status.CAPACITY_UNAVAILABLE and isinstance(run.error, PoolExhausted)
    cell = await world.manager.submit(world.cell(session), caller, session=session)
    with anyio.fail_after(5):
        await cell.done.wait()
    assert cell.view.status is Status.OK, "a cell runs in the slot its session holds"
    await session.sandbox.close()
    again = await world.manager.submit(ExecutionRequest(code=CODE), caller)
    with anyio.fail_after(5):
        await again.done.wait()
    assert again.view.status is Status.OK, "closing the session gave its slot back"


async def test_a_cell_over_the_size_cap_is_refused(world_factory: Callable[..., World]) -> None:
    world = world_factory(request_bytes=100)
    caller = world.key("k")
    session = await world.session(caller)
    execution = world.service.execution(world.cell(session, "#" * 101), caller, session)
    with pytest.raises(PayloadTooLarge, match="101 bytes, over the server cap of 100"):
        await execution.prepare()
    assert [s.mode for s in world.backend.specs] == ["session"]


async def test_a_cell_limit_over_the_maximum_is_refused(world_factory: Callable[..., World]) -> None:
    world = world_factory()
    caller = world.key("k")
    session = await world.session(caller)
    with pytest.raises(RequestRejected, match="wall_time_s=600 exceeds the server maximum 60"):
        await world.service.execution(world.cell(session, wall_time_s=600), caller, session).prepare()


async def test_a_cell_cannot_change_what_the_container_fixed(world_factory: Callable[..., World]) -> None:
    world = world_factory()
    caller = world.key("k")
    session = await world.session(caller, limits=Limits(memory_mb=128))
    with pytest.raises(RequestRejected, match="memory_mb of a session is fixed when it opens"):
        await world.service.execution(world.cell(session, memory_mb=512), caller, session).prepare()
    same = world.service.execution(world.cell(session, memory_mb=128, cpu_time_s=2), caller, session)
    await same.prepare()
    await same.finish()
    spec = world.backend.specs[-1]
    assert (spec.mode, spec.limits.memory_mb, spec.limits.cpu_time_s) == ("cell", 128, 2)


async def test_a_cells_limits_default_to_those_asked_at_opening(world_factory: Callable[..., World]) -> None:
    world = world_factory()
    caller = world.key("k")
    session = await world.session(caller, limits=Limits(wall_time_s=3, stdout_bytes=1000))
    cell = world.service.execution(world.cell(session, wall_time_s=2), caller, session)
    await cell.prepare()
    await cell.finish()
    limits = world.backend.specs[-1].limits
    assert (limits.wall_time_s, limits.stdout_bytes, limits.cpu_time_s) == (2, 1000, world.settings.cpu_time_s)


async def test_a_denied_cell_is_refused_audited_and_never_run(world_factory: Callable[..., World]) -> None:
    world = world_factory()
    caller = world.key("k")
    session = await world.session(caller)
    with pytest.raises(ValidationRejected) as caught:
        await world.manager.submit(world.cell(session, "import subprocess"), caller, session=session)
    assert caught.value.findings[0].rule_id == "import.denied"
    assert [s.mode for s in world.backend.specs] == ["session"]
    assert world.audited("execution.rejected")[0]["detail"]["status"] == "validation_rejected"  # type: ignore[index]


# ------------------------------------------------------------ files of a session


async def test_a_python_file_written_into_a_session_is_validated_first(world_factory: Callable[..., World]) -> None:
    world = world_factory()
    session = await world.session(world.key("k"))
    with pytest.raises(ValidationRejected) as caught:
        await world.service.upload(session, "helper.py", b"import subprocess\n")
    assert caught.value.findings[0].file == "helper.py"
    await world.service.upload(session, "data.txt", b"import subprocess\n")  # data, not a program
    await world.service.upload(session, "pkg/ok.py", b"print(1)\n")
    files = world.backend.sessions[-1].files
    assert set(files) == {"data.txt", "pkg/ok.py"}


@pytest.mark.parametrize("name", ["evil.pyc", "native.so", "bundle.zip", "hook.pth"])
async def test_files_python_could_import_unread_are_refused_in_a_session(
    world_factory: Callable[..., World], name: str
) -> None:
    world = world_factory()
    session = await world.session(world.key("k"))
    with pytest.raises(ValidationRejected):
        await world.service.upload(session, name, b"\x00\x01")
    assert name not in world.backend.sessions[-1].files


async def test_a_session_file_over_the_size_cap_is_refused(world_factory: Callable[..., World]) -> None:
    world = world_factory(request_bytes=10)
    session = await world.session(world.key("k"))
    with pytest.raises(PayloadTooLarge):
        await world.service.upload(session, "big.txt", b"x" * 11)


@pytest.mark.parametrize("path", ["../x", "/etc/passwd", "a//b", "./a", ""])
async def test_a_session_file_path_is_checked(world_factory: Callable[..., World], path: str) -> None:
    world = world_factory()
    session = await world.session(world.key("k"))
    with pytest.raises(RequestRejected, match="invalid file path"):
        await world.service.upload(session, path, b"x")


async def test_opening_a_session_validates_its_files_and_keeps_the_ceiling(world_factory: Callable[..., World]) -> None:
    world = world_factory()
    with pytest.raises(ValidationRejected):
        await world.session(world.key("k"), files=[{"path": "m.py", "content": "import subprocess"}])
    strict = world.key("strict", policy="strict")
    with pytest.raises(RequestRejected, match="looser than this key's tier"):
        await world.session(strict, policy="standard")
    with pytest.raises(RequestRejected, match="RestrictedPython: no sessions"):
        await world.session(strict)


async def test_a_session_counts_its_cells_and_is_not_busy_after_a_cancelled_one(
    world_factory: Callable[..., World],
) -> None:
    from sandbox.models import SessionExecution

    held = Held()
    world = world_factory(held)
    caller = world.key("k")
    sessions = SessionManager(world.service, world.manager)
    info = await sessions.create(SessionRequest(), caller)
    entry = sessions._sessions[info.id]
    cell = await sessions.execute(info.id, caller, SessionExecution(code=CODE))
    await world.manager.cancel(cell.id, caller)  # before its first step: the manager finishes it
    assert entry.active == 0 and entry.info.executions == 1
    held.release.set()
    done = await sessions.execute(info.id, caller, SessionExecution(code=CODE))
    with anyio.fail_after(5):
        await done.done.wait()
        while entry.active:
            await asyncio.sleep(0.01)
    assert entry.info.executions == 2 and done.view.session_id == info.id
    await sessions.aclose()


# ------------------------------------------------------------- found in review


async def test_finish_twice_raises_and_leaves_the_record_alone(world_factory: Callable[..., World]) -> None:
    world = world_factory()
    execution = await new_execution(world, "one-shot", world.key("k"))
    await execution.prepare()
    await execution.finish()
    done = execution.view
    with pytest.raises(StageOrderError, match="cannot finish in stage 'recorded'"):
        await execution.finish()
    assert execution.view is done and [e.kind for e in execution.events].count("result") == 1


async def test_a_closing_manager_refuses_new_work(world_factory: Callable[..., World]) -> None:
    from sandbox.errors import CapacityUnavailable

    world = world_factory()
    caller = world.key("k")
    await world.manager.aclose()
    with pytest.raises(CapacityUnavailable, match="shutting down"):
        await world.manager.submit(ExecutionRequest(code=CODE), caller)


async def test_cancelled_before_its_first_step_leaves_nothing_in_the_registry(
    world_factory: Callable[..., World],
) -> None:
    world = world_factory(Held())
    caller = world.key("k")
    execution = await world.manager.submit(ExecutionRequest(code=CODE), caller)
    await world.manager.cancel(execution.id, caller)
    await asyncio.sleep(0)  # the task's done-callback
    assert world.manager._tasks == {}
    assert world.manager.live(execution.id, caller).view.status is Status.KILLED  # findable while recent


def sessions_of(world: World) -> SessionManager:
    return SessionManager(world.service, world.manager)


async def test_concurrent_opens_cannot_pass_the_per_key_cap(
    world_factory: Callable[..., World], monkeypatch: pytest.MonkeyPatch
) -> None:
    world = world_factory(max_sessions_per_key=1)
    caller = world.key("k")
    sessions = sessions_of(world)
    real_open = world.service.open_session

    async def slow_open(*args: object) -> OpenSession:
        await asyncio.sleep(0.1)
        return await real_open(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(world.service, "open_session", slow_open)
    results = await asyncio.gather(
        *(sessions.create(SessionRequest(), caller) for _ in range(3)), return_exceptions=True
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, RateLimited) for r in results if isinstance(r, BaseException))
    await sessions.aclose()


async def test_a_session_whose_record_cannot_be_written_is_closed_not_orphaned(
    world_factory: Callable[..., World], monkeypatch: pytest.MonkeyPatch
) -> None:
    from sandbox.errors import StoreError

    world = world_factory()
    sessions = sessions_of(world)

    def broken(*args: object) -> None:
        raise StoreError("could not save a session: OperationalError")

    monkeypatch.setattr(world.store, "save_session", broken)
    with pytest.raises(StoreError):
        await sessions.create(SessionRequest(), world.key("k"))
    assert sessions._sessions == {}
    assert world.backend.sessions[-1].ended
    await sessions.aclose()


async def test_an_ended_session_takes_no_more_work(world_factory: Callable[..., World]) -> None:
    from sandbox.errors import NotFound
    from sandbox.models import SessionExecution

    world = world_factory(lambda spec: RunOutcome(status=Status.TIMEOUT, signal=9))
    caller = world.key("k")
    sessions = sessions_of(world)
    info = await sessions.create(SessionRequest(), caller)
    world.backend.sessions[-1]._ended = True  # as a cell that timed out leaves it, before its close has run
    with pytest.raises(NotFound, match="has ended"):
        await sessions.execute(info.id, caller, SessionExecution(code=CODE))
    with pytest.raises(NotFound):  # closed now, as a session ended by its last call always was
        await sessions.delete(info.id, caller)
    await asyncio.gather(*sessions._closing.values())
    assert (await sessions.get(info.id, caller)).state == "closed"
    await sessions.aclose()


async def test_a_session_ended_by_its_cell_reads_closed_while_its_container_is_removed(
    world_factory: Callable[..., World],
) -> None:
    """Found on CI: between the close's start and its record's save (the container's removal, ~0.1-1 s),
    ``get`` read the stored record, still open with no reason, though the cell's answer said it ended."""
    from sandbox.models import SessionExecution

    world = world_factory(lambda spec: RunOutcome(status=Status.TIMEOUT, signal=9))
    caller = world.key("k")
    sessions = sessions_of(world)
    info = await sessions.create(SessionRequest(), caller)
    fake = world.backend.sessions[-1]
    removed = asyncio.Event()
    ended_by_the_cell = fake.close

    async def slow_removal() -> None:  # the close's own call: waits as a container's removal does
        await ended_by_the_cell()
        await removed.wait()

    cell = await sessions.execute(info.id, caller, SessionExecution(code=CODE))
    with anyio.fail_after(5):
        await cell.done.wait()
    fake.close = slow_removal  # type: ignore[method-assign]
    await asyncio.sleep(0)  # the follower starts the close, as it does before any next request arrives
    try:
        seen = await sessions.get(info.id, caller)
    finally:
        removed.set()
    assert (seen.state, seen.closed_reason) == ("closed", "ended by a call (timeout)")
    with anyio.fail_after(5):
        await asyncio.gather(*sessions._closing.values())
    seen = await sessions.get(info.id, caller)
    assert (seen.state, seen.closed_reason) == ("closed", "ended by a call (timeout)")
    assert sessions._ending == {}
    await sessions.aclose()


async def test_a_cancelled_delete_still_closes_the_session(world_factory: Callable[..., World]) -> None:
    from sandbox.models import SessionExecution

    held = Held()
    world = world_factory(held)
    caller = world.key("k")
    sessions = sessions_of(world)
    info = await sessions.create(SessionRequest(), caller)
    await sessions.execute(info.id, caller, SessionExecution(code=CODE))
    with anyio.fail_after(5):
        await held.started.wait()
    fake = world.backend.sessions[-1]

    async def close_after_the_cell() -> None:  # a real session's close waits for the running cell
        async with fake.lock:
            fake._ended = True

    fake.close = close_after_the_cell  # type: ignore[method-assign]
    deleting = asyncio.create_task(sessions.delete(info.id, caller))
    await asyncio.sleep(0.05)
    deleting.cancel()  # the caller goes away while the close waits for the cell
    with pytest.raises(asyncio.CancelledError):
        await deleting
    held.release.set()
    with anyio.fail_after(5):
        while not fake.ended:
            await asyncio.sleep(0.01)
        await asyncio.gather(*sessions._closing.values())
    stored = world.store.get_session(info.id, caller.key_id or "")
    assert stored is not None and stored.state == "closed" and stored.closed_reason == "closed by the caller"
    await sessions.aclose()


async def test_a_closing_session_manager_refuses_new_work(world_factory: Callable[..., World]) -> None:
    from sandbox.errors import CapacityUnavailable

    world = world_factory()
    sessions = sessions_of(world)
    await sessions.aclose()
    with pytest.raises(CapacityUnavailable, match="shutting down"):
        await sessions.create(SessionRequest(), world.key("k"))
