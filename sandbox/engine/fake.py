"""A backend driven by a plain function: fast tests of the layers above the engine.

Ships with the code (like httpx's ``MockTransport``) so the service and the
doors can be tested without Docker. The product never runs on it.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from sandbox.engine.base import Backend, BackendSession, Lease
from sandbox.engine.spec import OutputCallback, RunOutcome, RunSpec, deliver
from sandbox.errors import NotFound, PoolExhausted
from sandbox.models import SessionFile, SessionFiles, Status

#: Gets every spec (one-shot runs, session openings with mode "session", cells with mode "cell").
Handler = Callable[[RunSpec], RunOutcome | Awaitable[RunOutcome]]


class FakeBackend(Backend):
    """Answers each run with ``handler(spec)`` (sync or async); records every spec it was given.

    ``max_concurrency`` slots are shared by runs and open sessions (one each, for
    the session's life), as in the real backend; ``acquire`` and ``open_session``
    wait ``queue_timeout_s`` for one, then fail with ``PoolExhausted``.
    A cell whose outcome is not ok/runtime_error ends its session, as a real one does.
    """

    def __init__(self, handler: Handler, *, max_concurrency: int = 16, queue_timeout_s: float = 0.0) -> None:
        self.handler = handler
        self.specs: list[RunSpec] = []
        self.sessions: list[FakeSession] = []
        self.closed = False
        self._slots = asyncio.Semaphore(max_concurrency)
        self._queue_timeout_s = queue_timeout_s

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        await self.take_slot()
        try:
            yield
        finally:
            self._slots.release()

    async def take_slot(self) -> None:
        if self.closed:
            raise RuntimeError("FakeBackend is closed")
        try:
            if self._slots.locked() and not self._queue_timeout_s:
                raise TimeoutError
            await asyncio.wait_for(self._slots.acquire(), timeout=self._queue_timeout_s or None)
        except TimeoutError:
            raise PoolExhausted("every execution slot of the fake backend stayed busy") from None

    def release_slot(self) -> None:
        self._slots.release()

    @asynccontextmanager
    async def acquire(self, spec: RunSpec) -> AsyncIterator[Lease]:
        async with self.slot():
            yield _FakeLease(self)

    async def answer(self, spec: RunSpec, on_output: OutputCallback | None) -> RunOutcome:
        self.specs.append(spec)
        outcome = self.handler(spec)
        if inspect.isawaitable(outcome):
            outcome = await outcome
        for stream, data in (("stdout", outcome.stdout), ("stderr", outcome.stderr)):
            if data:
                await deliver(on_output, stream, data)
        return outcome

    async def open_session(self, spec: RunSpec, lifetime_s: float) -> BackendSession:
        if self.closed:
            raise RuntimeError("FakeBackend is closed")
        await self.take_slot()
        self.specs.append(spec)
        session = FakeSession(self, {f.path: f.data for f in spec.files})
        self.sessions.append(session)
        return session

    async def aclose(self) -> None:
        self.closed = True
        for session in self.sessions:
            await session.close()


class FakeSession(BackendSession):
    """A session whose cells are answered by the backend's handler and whose files live in a dict."""

    def __init__(self, backend: FakeBackend, files: dict[str, bytes]) -> None:
        self.backend = backend
        self.files = files
        self.lock = asyncio.Lock()
        self._ended = False

    @property
    def ended(self) -> bool:
        return self._ended

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[Lease]:
        async with self.lock:
            self._check_open()
            yield _FakeLease(self.backend, self)

    async def put_file(self, path: str, data: bytes) -> None:
        self._check_open()
        self.files[path] = data

    async def get_file(self, path: str) -> bytes:
        self._check_open()
        if path not in self.files:
            raise NotFound(f"no file {path!r} in the session")
        return self.files[path]

    async def list_files(self) -> SessionFiles:
        self._check_open()
        items = [SessionFile(path=path, type="file", size=len(data)) for path, data in sorted(self.files.items())]
        return SessionFiles(items=items, truncated=False)

    async def close(self) -> None:
        if not self._ended:
            self._ended = True
            self.backend.release_slot()

    def _check_open(self) -> None:
        if self._ended:
            raise NotFound("the session has ended")


class _FakeLease(Lease):
    def __init__(self, backend: FakeBackend, session: FakeSession | None = None) -> None:
        self._backend = backend
        self._session = session

    async def run(self, spec: RunSpec, on_output: OutputCallback | None = None) -> RunOutcome:
        try:
            outcome = await self._backend.answer(spec, on_output)
        except BaseException:
            if self._session is not None:  # as a real session: a cell that did not finish ends it
                await self._session.close()
            raise
        if self._session is not None and outcome.status not in (Status.OK, Status.RUNTIME_ERROR):
            await self._session.close()
        return outcome
