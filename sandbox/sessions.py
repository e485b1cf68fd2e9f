"""Open sessions of this process: who owns each, how long it may live, its record.

A session is one dedicated container whose interpreter keeps its state between
cells. Everything a session does goes through the service: opening it
(``ExecutionService.open_session``: policy ceiling, limits, sizes, validation of
its files), each cell (an ``Execution`` submitted like a one-shot run: rate and
concurrency limits, size caps, validation, an execution slot, a record) and each
file written into it (validated as a request's file is). This module keeps the
registry: ownership, the per-key cap, the idle TTL and the maximum lifetime.
A session closes when its caller deletes it, after ``idle_ttl_s`` without a
call, at its maximum lifetime, or when a cell ends it (timeout, output cap,
crash); its container is removed then.

Scale-out (``SANDBOX_REDIS_URL``): the container is on a worker, and the backend
keeps a directory of open sessions (``Backend.share_session``): a replica that
did not open a session adopts it from there on first use (its record, its
opening spec, its secrets revealed again for redaction), every call checks the
entry still exists (a session closed through another replica is gone here too)
and updates its last use, and listings and the per-key cap count the whole
cluster's sessions. A session whose worker dies is closed with that reason.

Each record names the server instance holding its container. A process that
dies (SIGKILL, crash) takes its sessions with it; the next process to start, and
every process every ``janitor_interval_s``, closes the records of sessions whose
instance is gone, so none reads ``open`` forever (the janitor removes their
containers).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sandbox import instance
from sandbox.engine import OutputCallback
from sandbox.errors import CapacityUnavailable, NotFound, RateLimited, RequestRejected
from sandbox.executions import ExecutionManager
from sandbox.models import (
    Caller,
    ExecutionRequest,
    Limits,
    SessionExecution,
    SessionFile,
    SessionFiles,
    SessionInfo,
    SessionRequest,
)
from sandbox.planning import check_path
from sandbox.secrets.redaction import redact_file
from sandbox.secrets.use import NOTHING
from sandbox.service import Execution, ExecutionService, OpenSession

log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Entry:
    info: SessionInfo
    caller: Caller
    open: OpenSession
    active: int = 0  # cells submitted and not finished: never idle while > 0


class SessionManager:
    """See the module docstring."""

    def __init__(self, service: ExecutionService, executions: ExecutionManager) -> None:
        self.service = service
        self.executions = executions
        self.settings = service.settings
        self._sessions: dict[str, _Entry] = {}
        self._opening: Counter[str | None] = Counter()  # per key: sessions being opened right now
        self._reaper: asyncio.Task[None] | None = None
        self._followers: set[asyncio.Task[None]] = set()
        self._closing: dict[str, asyncio.Task[None]] = {}
        self._ending: dict[str, _Entry] = {}  # being closed: ``get`` answers from here until the record is saved
        self._stopping = False
        self.shared = service.backend.remote  # scale-out: the cluster's directory (module docstring)

    def start(self) -> None:
        self._reaper = asyncio.create_task(self._reap_loop(), name="session-reaper")

    @property
    def open_count(self) -> int:
        """Sessions open in this process, of every key."""
        return len(self._sessions)

    async def close_orphans(self) -> int:
        """Close the records of open sessions whose server instance is gone; returns how many."""
        store = self.service.store
        if store is None:
            return 0
        reason = "its server stopped without closing it (the process is gone)"
        try:
            stale = datetime.now(UTC) - timedelta(seconds=self.settings.kill_grace_s + 60)
            closed = await asyncio.to_thread(store.close_orphaned_sessions, _gone, reason, stale)
        except Exception as exc:  # the next round tries again
            log.warning("could not close the sessions of stopped servers: %s", exc)
            return 0
        if closed:
            log.info("closed %d session(s) left open by a stopped server", closed)
        return closed

    def stop_admitting(self) -> None:
        """Refuse new sessions, cells and file operations from now on (503: shutting down)."""
        self._stopping = True

    async def aclose(self) -> None:
        """Refuse new work, then close every session (their containers go with them).

        Scale-out: a replica that stops (a rolling update) closes none: the sessions live on their
        workers and in the directory, and the other replicas go on serving them.
        """
        self._stopping = True
        if self._reaper is not None:
            self._reaper.cancel()
            await asyncio.gather(self._reaper, return_exceptions=True)
        await asyncio.gather(*self._followers, return_exceptions=True)
        if self.shared:
            self._sessions.clear()
        for session_id in list(self._sessions):
            self._begin_close(session_id, "server shutdown")
        await asyncio.gather(*self._closing.values(), return_exceptions=True)

    async def create(self, request: SessionRequest, caller: Caller) -> SessionInfo:
        self._refuse_when_stopping()
        held = sum(1 for s in self._sessions.values() if s.caller.key_id == caller.key_id)
        if self.shared:
            held = max(held, len(await self.service.backend.shared_sessions(caller.key_id or "")))
        held += self._opening[caller.key_id]
        if held >= self.settings.max_sessions_per_key:
            raise RateLimited(f"this key already holds {held} open sessions (its limit)")
        idle = request.idle_ttl_s or self.settings.session_idle_ttl_s
        if idle > self.settings.max_session_idle_ttl_s:
            raise RequestRejected(
                f"idle_ttl_s={idle:g} exceeds the server maximum {self.settings.max_session_idle_ttl_s:g}"
            )
        await self.service.limiter.take(caller.key_id, caller.rate_per_min)  # opening one counts against the rate
        session_id = uuid.uuid4().hex
        self._opening[caller.key_id] += 1  # counted against the cap while its container is made
        try:
            opened = await self.service.open_session(request, caller, session_id)
        finally:
            self._opening[caller.key_id] -= 1
        lifetime = self.settings.session_max_lifetime_s
        now = datetime.now(UTC)
        info = SessionInfo(
            id=session_id,
            language=opened.language,
            policy=opened.policy.name,
            state="open",
            created_at=now,
            last_used_at=now,
            expires_at=now + timedelta(seconds=lifetime),
            idle_ttl_s=idle,
        )
        entry = self._sessions[session_id] = _Entry(info, caller, opened)
        store = self.service.store
        holder = opened.sandbox.holder or instance.current().label  # its record names who holds its container
        try:
            if store is not None:
                await asyncio.to_thread(store.save_session, info, caller.key_id or "", holder)
            if self.shared:
                ttl_s = self.settings.session_max_lifetime_s + 60
                await self.service.backend.share_session(session_id, opened.sandbox, opened.spec, _record(entry), ttl_s)
        except BaseException:
            await self._close(session_id, "its record could not be written")  # not an orphan nobody can reach
            raise
        await self.service.audit("session.opened", caller.key_id, session=session_id, policy=opened.policy.name)
        return info

    async def get(self, session_id: str, caller: Caller) -> SessionInfo:
        """An open session, or the record of a closed one (``NotFound`` if neither is this caller's)."""
        entry = self._sessions.get(session_id) or self._ending.get(session_id)
        if entry is not None and entry.caller.key_id == caller.key_id:
            return entry.info
        store = self.service.store
        info = await asyncio.to_thread(store.get_session, session_id, caller.key_id or "") if store else None
        if info is None:
            raise NotFound(f"no session {session_id!r} for this key")
        return info

    async def list_open(self, caller: Caller) -> list[SessionInfo]:
        """The caller's open sessions, oldest first (closed ones: ``get`` by id): this process's, or with
        scale-out the whole cluster's."""
        if self.shared:
            records = await self.service.backend.shared_sessions(caller.key_id or "")
            owned = [SessionInfo.model_validate(record["info"]) for record in records]
        else:
            owned = [entry.info for entry in self._sessions.values() if entry.caller.key_id == caller.key_id]
        return sorted(owned, key=lambda info: info.created_at)

    async def execute(
        self,
        session_id: str,
        caller: Caller,
        body: SessionExecution,
        on_output: OutputCallback | None = None,
        *,
        record_now: bool = False,
    ) -> Execution:
        """Submit a cell (refusals raise here); await ``done`` on the returned execution for its result."""
        entry = await self._own(session_id, caller)
        request = ExecutionRequest(
            language=entry.open.language,
            code=body.code,
            limits=body.limits,
            policy=entry.open.policy.name,
            outputs=body.outputs,
        )
        entry.active += 1
        try:
            execution = await self.executions.submit(
                request, caller, session=entry.open, on_output=on_output, record_now=record_now
            )
        except BaseException:
            entry.active -= 1
            raise
        follower = asyncio.create_task(self._follow(session_id, entry, execution))
        self._followers.add(follower)
        follower.add_done_callback(self._followers.discard)
        return execution

    async def put_file(self, session_id: str, caller: Caller, path: str, data: bytes) -> None:
        """Write a file into the session, validated first (a program file is validated as code)."""
        entry = await self._own(session_id, caller)
        entry.active += 1
        try:
            await self.service.upload(entry.open, path, data, caller=caller)
        finally:
            entry.active -= 1
            await self._used(session_id, entry)
        await self._close_if_ended(session_id, entry, "its container ended")

    async def get_file(self, session_id: str, caller: Caller, path: str) -> bytes:
        entry = await self._own(session_id, caller)
        check_path(path)
        entry.active += 1
        try:
            data = await entry.open.sandbox.get_file(path)
        finally:
            entry.active -= 1
            await self._used(session_id, entry)
            await self._close_if_ended(session_id, entry, "its container ended")
        return redact_file(data, entry.open.revealed.redactor)

    async def list_files(self, session_id: str, caller: Caller) -> SessionFiles:
        """The session's workdir, listed with the program stopped; names redacted like file contents."""
        entry = await self._own(session_id, caller)
        entry.active += 1
        try:
            listing = await entry.open.sandbox.list_files()
        finally:
            entry.active -= 1
            await self._used(session_id, entry)
            await self._close_if_ended(session_id, entry, "its container ended")
        redactor = entry.open.revealed.redactor
        if redactor:  # a program may name a file after a secret's value
            items = [
                SessionFile(path=redactor.redact(item.path), type=item.type, size=item.size) for item in listing.items
            ]
            listing = SessionFiles(items=items, truncated=listing.truncated)
        return listing

    async def delete(self, session_id: str, caller: Caller) -> None:
        entry = self._sessions.get(session_id)
        if entry is None and self.shared:
            entry = await self._found(session_id, caller)
        if entry is None or entry.caller.key_id != caller.key_id:
            raise NotFound(f"no open session {session_id!r} for this key")
        await self._close(session_id, "closed by the caller")

    # ------------------------------------------------------------------ private
    async def _own(self, session_id: str, caller: Caller) -> _Entry:
        self._refuse_when_stopping()
        entry = await self._found(session_id, caller) if self.shared else self._sessions.get(session_id)
        if entry is None or entry.caller.key_id != caller.key_id:
            raise NotFound(f"no open session {session_id!r} for this key")
        if entry.open.sandbox.ended:  # ended by its last call; its close may not have run yet
            self._begin_close(session_id, "its container ended")
            raise NotFound(f"session {session_id!r} has ended")
        return entry

    async def _found(self, session_id: str, caller: Caller) -> _Entry | None:
        """Scale-out: the session as the cluster's directory has it (adopted here on first use); None when
        it is not open anywhere (a local entry of a session closed elsewhere is dropped)."""
        found = await self.service.backend.shared_session(session_id)
        entry = self._sessions.get(session_id)
        if found is None:
            if entry is not None:
                self._sessions.pop(session_id, None)
            return None
        sandbox, spec, record = found
        if record.get("key_id") != (caller.key_id or ""):
            return None
        shared = SessionInfo.model_validate(record["info"])
        if entry is not None:  # another replica may have used it since: the later use and count win
            entry.info.last_used_at = max(entry.info.last_used_at, shared.last_used_at)
            entry.info.executions = max(entry.info.executions, shared.executions)
            return entry
        names = list(record.get("secrets", []))
        revealed = (  # the values its interpreter holds, revealed again: every output is redacted of them
            await self.service.secret_access.reveal(caller.key_id, names, session=session_id) if names else NOTHING
        )
        policy = self.service.policies.get(record["policy"])
        defaults = Limits.model_validate(record["defaults"])
        opened = OpenSession(session_id, record["language"], policy, spec, defaults, sandbox, revealed)
        entry = self._sessions[session_id] = _Entry(shared, caller, opened)
        log.info("session %s adopted from the cluster (its worker: %s)", session_id, sandbox.holder)
        return entry

    async def _used(self, session_id: str, entry: _Entry) -> None:
        """A call is over: its last use (and count) now, for every replica's idle reaper."""
        entry.info.last_used_at = datetime.now(UTC)
        if self.shared and not entry.open.sandbox.ended:
            try:
                await self.service.backend.touch_session(session_id, {"info": entry.info.model_dump(mode="json")})
            except CapacityUnavailable as exc:  # the next call checks again; the idle reaper may close it early
                log.warning("could not share session %s's last use: %s", session_id, exc.message)

    def _refuse_when_stopping(self) -> None:
        if self._stopping:
            raise CapacityUnavailable("the server is shutting down; open a session on another one")

    async def _follow(self, session_id: str, entry: _Entry, execution: Execution) -> None:
        """When a cell is done: count it, and close the session if the cell ended it."""
        try:
            await execution.done.wait()
        finally:
            entry.active -= 1
        if execution.result is not None and execution.verdict is not None:
            entry.info.executions += 1
        await self._used(session_id, entry)
        status = execution.result.status.value if execution.result else "?"
        await self._close_if_ended(session_id, entry, f"ended by a call ({status})")

    async def _close_if_ended(self, session_id: str, entry: _Entry, reason: str) -> None:
        if entry.open.sandbox.ended:
            await self._close(session_id, reason)

    async def _close(self, session_id: str, reason: str) -> None:
        """Close a session and wait for it; a cancelled caller does not stop the close."""
        task = self._begin_close(session_id, reason)
        if task is not None:
            await asyncio.shield(task)

    def _begin_close(self, session_id: str, reason: str) -> asyncio.Task[None] | None:
        """Start closing (once): the session leaves the registry now, its container and record follow."""
        entry = self._sessions.pop(session_id, None)
        if entry is None:
            return self._closing.get(session_id)
        entry.info.state, entry.info.closed_reason = "closed", reason
        task = asyncio.create_task(self._finish_close(session_id, entry, reason), name=f"session-close-{session_id}")
        self._closing[session_id] = task
        self._ending[session_id] = entry
        task.add_done_callback(lambda _: self._closed(session_id))
        return task

    def _closed(self, session_id: str) -> None:
        self._closing.pop(session_id, None)
        self._ending.pop(session_id, None)

    async def _finish_close(self, session_id: str, entry: _Entry, reason: str) -> None:
        with contextlib.suppress(Exception):
            await entry.open.sandbox.close()  # waits for a running cell to end
        if self.shared:
            with contextlib.suppress(Exception):  # its entry expires with its maximum lifetime anyway
                await self.service.backend.unshare_session(session_id, entry.caller.key_id or "")
        store = self.service.store
        if store is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(store.save_session, entry.info, entry.caller.key_id or "")
        await self.service.audit("session.closed", entry.caller.key_id, session=session_id, reason=reason)

    async def _reap_loop(self) -> None:
        await self.close_orphans()
        orphans_due = asyncio.get_running_loop().time() + self.settings.janitor_interval_s
        rounds = 0
        while True:
            await asyncio.sleep(1.0)
            if asyncio.get_running_loop().time() >= orphans_due:
                orphans_due += self.settings.janitor_interval_s
                await self.close_orphans()
            now = datetime.now(UTC)
            rounds += 1
            check_holders = self.shared and rounds % 5 == 0  # scale-out: is each session's worker alive?
            for session_id, entry in list(self._sessions.items()):
                info = entry.info
                if now >= info.expires_at:  # closes run side by side: one waiting for a cell stalls no other
                    self._begin_close(session_id, "maximum lifetime reached")
                elif not entry.active and (now - info.last_used_at).total_seconds() > info.idle_ttl_s:
                    if not self.shared or await self._still_idle(session_id, entry):
                        self._begin_close(session_id, "idle")
                elif check_holders and not entry.active and not await _alive(entry):
                    self._begin_close(session_id, "its worker stopped (the container is gone)")

    async def _still_idle(self, session_id: str, entry: _Entry) -> bool:
        """Scale-out: idle here, and not used through another replica since (then it is refreshed here)."""
        try:
            found = await self._found(session_id, entry.caller)
        except CapacityUnavailable:
            return False  # the directory cannot say: not now
        if found is None:
            return False  # closed elsewhere: dropped here
        return (datetime.now(UTC) - found.info.last_used_at).total_seconds() > found.info.idle_ttl_s


def _record(entry: _Entry) -> dict[str, object]:
    """What another replica needs to adopt the session (scale-out), besides its sandbox and spec."""
    return {
        "key_id": entry.caller.key_id or "",
        "language": entry.open.language,
        "policy": entry.open.policy.name,
        "defaults": entry.open.defaults.model_dump(mode="json"),
        "secrets": sorted(entry.open.revealed.versions),
        "info": entry.info.model_dump(mode="json"),
    }


async def _alive(entry: _Entry) -> bool:
    try:
        return await entry.open.sandbox.alive()
    except CapacityUnavailable:
        return True  # cannot tell now: not a reason to close


def _gone(label: str) -> bool:
    """True when the instance ``label`` names is known to be dead (another host's is not known)."""
    creator = instance.Instance.parse(label)
    return creator is not None and creator.alive() is False
