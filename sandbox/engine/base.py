"""The engine contract: a ``Backend`` lends sandboxes that run one ``RunSpec`` each.

Everything above the engine (the service and the doors) talks to these classes
only. ``DockerBackend`` is the real implementation and ``FakeBackend`` a
handler-driven one for fast tests of the layers above.

Two kinds of work, one shape:

- a one-shot run: ``async with backend.acquire(spec) as lease: await lease.run(spec)``
  (an execution slot and a fresh container, removed when the block exits);
- a session cell: ``async with session.acquire() as lease: await lease.run(spec)``
  (exclusive use of the session's interpreter; the session holds an execution
  slot from its opening to its end, so its container counts like a run's).
"""

from __future__ import annotations

import abc
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any

from sandbox.engine.sizing import Bounds
from sandbox.engine.spec import OutputCallback, PoolReport, Profile, RunOutcome, RunSpec
from sandbox.models import SessionFiles


class Lease(abc.ABC):
    """A sandbox held for one run: a fresh container, or a session's interpreter."""

    @abc.abstractmethod
    async def run(self, spec: RunSpec, on_output: OutputCallback | None = None) -> RunOutcome:
        """Run ``spec`` once and report what happened; a program's failure is an outcome."""


class BackendSession(abc.ABC):
    """An open session: one container whose interpreter keeps its state between cells.

    A cell that times out, overflows a cap or kills the interpreter ends the
    session (``ended`` turns true and the container is removed); later calls raise
    ``EngineError``.
    """

    @property
    @abc.abstractmethod
    def ended(self) -> bool:
        """True once the session's container is gone or going."""

    @abc.abstractmethod
    def acquire(self) -> AbstractAsyncContextManager[Lease]:
        """Exclusive use of the interpreter for one cell (the session holds its execution slot)."""

    @abc.abstractmethod
    async def put_file(self, path: str, data: bytes) -> None:
        """Write a workdir file; the runner refuses links (``RequestRejected``)."""

    @abc.abstractmethod
    async def get_file(self, path: str) -> bytes:
        """Read a workdir file without following links (``NotFound`` if there is none)."""

    @abc.abstractmethod
    async def list_files(self) -> SessionFiles:
        """The workdir's entries (bounded; links listed, never followed)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """End the session and remove its container. Idempotent."""

    @property
    def holder(self) -> str | None:
        """The instance label of the process holding its container, when it is not this one (scale-out)."""
        return None

    async def alive(self) -> bool:
        """Whether its container can still be reached (scale-out: whether its worker is alive)."""
        return not self.ended


class Backend(abc.ABC):
    """Runs programs. A lease's ``run`` never raises for a program's failure, only for ours.

    Contract: one fresh container (or equivalent) per one-shot run; limits
    enforced; nothing a run created survives it. ``aclose`` releases every
    resource the backend holds, warm containers and open sessions included.
    """

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Prepare (connect, sweep leftovers). Idempotent."""

    async def ping(self) -> None:  # noqa: B027 - optional hook
        """Raise ``SandboxError`` if the backend cannot run anything now."""

    def warm(self, profile: Profile, bounds: Bounds | None = None) -> None:  # noqa: B027 - optional hook
        """Keep sandboxes of ``profile`` ready ahead of requests (if the backend pools), as many as its
        demand asks within ``bounds`` (default: the backend's settings)."""

    def pools(self) -> list[PoolReport]:
        """The warm pools, for readiness; none by default."""
        return []

    def conditions(self) -> dict[str, str]:
        """Named states for readiness (a wrapper adds its own, e.g. ``{"breaker": "open"}``)."""
        return {}

    def recovered(self) -> None:  # noqa: B027 - optional hook
        """The engine answers again after an outage: replace what may have died with it."""

    @abc.abstractmethod
    def acquire(self, spec: RunSpec) -> AbstractAsyncContextManager[Lease]:
        """An execution slot and a fresh sandbox for one run of ``spec``; released on exit."""

    async def run(self, spec: RunSpec, on_output: OutputCallback | None = None) -> RunOutcome:
        """Acquire, run once, release: the whole one-shot life in one call."""
        async with self.acquire(spec) as lease:
            return await lease.run(spec, on_output)

    @abc.abstractmethod
    async def open_session(self, spec: RunSpec, lifetime_s: float) -> BackendSession:
        """A dedicated sandbox whose interpreter keeps its state; ``spec.mode`` is "session".

        It takes an execution slot (``PoolExhausted`` when none frees within the queue
        timeout) and holds it until the session ends.
        """

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Release everything; later calls are an error."""

    # Scale-out: a session opened through one replica is reachable through the others. One process
    # shares nothing (these defaults); ``DispatchBackend`` keeps a directory of them in Redis.
    #: The engine is elsewhere (scale-out: ``DispatchBackend`` sends runs to workers): sessions are shared
    #: through it, and its readiness is its own (Redis), not the workers' pools.
    remote = False

    async def share_session(  # noqa: B027 - optional hook
        self, session_id: str, sandbox: BackendSession, spec: RunSpec, record: dict[str, Any], ttl_s: float
    ) -> None:
        """Make an open session reachable from other processes (``record``: what they need to adopt it)."""

    async def shared_session(self, session_id: str) -> tuple[BackendSession, RunSpec, dict[str, Any]] | None:
        """A session another process opened: its sandbox, opening spec and record; None if unknown."""
        return None

    async def shared_sessions(self, key_id: str) -> list[dict[str, Any]]:
        """The records of every open session of ``key_id`` in the cluster (nothing in one process)."""
        return []

    async def touch_session(self, session_id: str, record: dict[str, Any]) -> bool:
        """Update a shared session's record; False when it is no longer shared (closed elsewhere)."""
        return True

    async def unshare_session(self, session_id: str, key_id: str) -> None:  # noqa: B027 - optional hook
        """The session is closed: other processes no longer find it."""

    async def __aenter__(self) -> Backend:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
