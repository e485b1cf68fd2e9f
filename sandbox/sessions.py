"""Sessions: one dedicated container per session, its interpreter's state kept between calls.

A session belongs to one API key and to this server process (its container is
attached to it). Every cell goes through the same validation as a one-shot
execution, under the policy chosen when the session opened, and runs with
per-call limits. A session closes when its caller deletes it, after
``idle_ttl_s`` without a call, at its maximum lifetime, or when a cell ends it
(timeout, output cap, crash); its container is removed then.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.engine import OutputCallback, RunSpec
from sandbox.errors import NotFound, RateLimited, RequestRejected, SyntaxRejected, ValidationRejected
from sandbox.limits import resolve_limits
from sandbox.models import (
    ApiKeyInfo,
    ExecutionRequest,
    ExecutionResult,
    FileInput,
    Limits,
    SessionExecution,
    SessionInfo,
    SessionRequest,
)
from sandbox.service import ExecutionService, to_result
from sandbox.store import Store
from sandbox.validation import Policy

log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Session:
    info: SessionInfo
    key_id: str
    policy: Policy
    spec: RunSpec
    runner: Any  # the backend's session handle
    default_limits: Limits
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class SessionManager:
    """See the module docstring."""

    def __init__(self, service: ExecutionService, store: Store) -> None:
        self.service = service
        self.store = store
        self.settings = service.settings
        self._sessions: dict[str, _Session] = {}
        self._reaper: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._reaper = asyncio.create_task(self._reap_loop(), name="session-reaper")

    async def aclose(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
        for session_id in list(self._sessions):
            await self._close(session_id, "server shutdown")

    async def create(self, request: SessionRequest, key: ApiKeyInfo) -> SessionInfo:
        mine = [s for s in self._sessions.values() if s.key_id == key.id]
        if len(mine) >= self.settings.max_sessions_per_key:
            raise RateLimited(f"this key already holds {len(mine)} open sessions (its limit)")
        language = self.service.catalog.language(request.language)
        if language.mode != "python":
            raise RequestRejected(f"sessions are available for python only, not {language.name!r}")
        policy = self.service.choose_policy(request.policy, key.policy)
        if policy.python.restricted_python:
            raise RequestRejected(f"policy {policy.name!r} runs code under RestrictedPython: no sessions")
        idle = request.idle_ttl_s or self.settings.session_idle_ttl_s
        if idle > self.settings.max_session_idle_ttl_s:
            raise RequestRejected(
                f"idle_ttl_s={idle:g} exceeds the server maximum {self.settings.max_session_idle_ttl_s:g}"
            )
        probe = ExecutionRequest(language=language.name, code="", files=request.files, limits=request.limits)
        base = self.service.prepare(probe, policy)
        verdict = await self.service.validate(probe, policy)
        if not verdict.allowed:
            raise ValidationRejected(verdict.summary(), findings=list(verdict.findings))
        files = tuple(f for f in base.files if f.path != language.main_file)
        spec = RunSpec(
            image=base.image,
            mode="session",
            argv=("python3",),
            files=files,
            limits=base.limits,
            nofile=base.nofile,
            cpus=base.cpus,
        )
        lifetime = self.settings.session_max_lifetime_s
        runner = await self.service.backend.open_session(spec, lifetime)
        now = datetime.now(UTC)
        info = SessionInfo(
            id=uuid.uuid4().hex,
            language=language.name,
            policy=policy.name,
            state="open",
            created_at=now,
            last_used_at=now,
            expires_at=now + timedelta(seconds=lifetime),
            idle_ttl_s=idle,
        )
        self._sessions[info.id] = _Session(info, key.id, policy, spec, runner, request.limits)
        await asyncio.to_thread(self.store.save_session, info, key.id)
        await asyncio.to_thread(self.store.audit, "session.opened", key.id, session=info.id, policy=policy.name)
        return info

    async def get(self, session_id: str, key: ApiKeyInfo) -> SessionInfo:
        """An open session, or the record of a closed one (``NotFound`` if neither is this key's)."""
        session = self._sessions.get(session_id)
        if session is not None and session.key_id == key.id:
            return session.info
        info = await asyncio.to_thread(self.store.get_session, session_id, key.id)
        if info is None:
            raise NotFound(f"no session {session_id!r} for this key")
        return info

    async def execute(
        self, session_id: str, key: ApiKeyInfo, body: SessionExecution, on_output: OutputCallback | None = None
    ) -> ExecutionResult:
        session = self._own(session_id, key)
        request = ExecutionRequest(language=session.info.language, code=body.code, policy=session.policy.name)
        verdict = await self.service.validate(request, session.policy)
        if not verdict.allowed:
            error = SyntaxRejected if verdict.syntax_error else ValidationRejected
            raise error(verdict.summary(), findings=list(verdict.findings))
        asked = body.limits.model_dump(exclude_none=True)
        limits = resolve_limits(
            Limits(**{**session.default_limits.model_dump(exclude_none=True), **asked}),
            self.settings,
            session.policy.limits.defaults,
            session.policy.limits.maxima,
        )
        # Container-level limits were fixed when the session opened.
        fixed = session.spec.limits
        limits = limits.model_copy(
            update={"memory_mb": fixed.memory_mb, "processes": fixed.processes, "workdir_mb": fixed.workdir_mb}
        )
        spec = dataclasses.replace(session.spec, limits=limits)
        async with session.lock:
            outcome = await session.runner.execute(body.code, spec, on_output)
            session.info.executions += 1
            session.info.last_used_at = datetime.now(UTC)
        result = to_result(outcome)
        result.findings = list(verdict.findings)
        if session.runner.ended:
            await self._close(session_id, f"ended by a call ({result.status.value})")
            result.message = (result.message + "; the session has ended").lstrip("; ")
        return result

    async def put_file(self, session_id: str, key: ApiKeyInfo, path: str, data: bytes) -> None:
        session = self._own(session_id, key)
        _check_path(path)  # the runner checks it again, and never follows a link
        async with session.lock:
            await session.runner.put(path, data)
            session.info.last_used_at = datetime.now(UTC)

    async def get_file(self, session_id: str, key: ApiKeyInfo, path: str) -> bytes:
        session = self._own(session_id, key)
        _check_path(path)
        async with session.lock:
            data = await session.runner.get(path)
            session.info.last_used_at = datetime.now(UTC)
        return data

    async def delete(self, session_id: str, key: ApiKeyInfo) -> None:
        self._own(session_id, key)
        await self._close(session_id, "closed by the caller")

    # ------------------------------------------------------------------ private
    def _own(self, session_id: str, key: ApiKeyInfo) -> _Session:
        session = self._sessions.get(session_id)
        if session is None or session.key_id != key.id:
            raise NotFound(f"no open session {session_id!r} for this key")
        return session

    async def _close(self, session_id: str, reason: str) -> None:
        session = self._sessions.pop(session_id, None)
        if session is None:
            return
        session.info.state, session.info.closed_reason = "closed", reason
        with contextlib.suppress(Exception):
            await session.runner.close()
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self.store.save_session, session.info, session.key_id)
        with contextlib.suppress(Exception):
            await asyncio.to_thread(
                self.store.audit, "session.closed", session.key_id, session=session_id, reason=reason
            )

    async def _reap_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            now = datetime.now(UTC)
            for session_id, session in list(self._sessions.items()):
                info = session.info
                if now >= info.expires_at:
                    await self._close(session_id, "maximum lifetime reached")
                elif not session.lock.locked() and (now - info.last_used_at).total_seconds() > info.idle_ttl_s:
                    await self._close(session_id, "idle")


def _check_path(path: str) -> None:
    try:
        FileInput(path=path)
    except ValueError as exc:
        raise RequestRejected(f"invalid file path {path!r}: relative, without '.', '..' or empty parts") from exc
