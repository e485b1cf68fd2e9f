"""The engine contract: a ``Backend`` runs one ``RunSpec`` and returns a ``RunOutcome``.

Everything above the engine (the service and the doors) talks to this class
only; ``DockerBackend`` is the real implementation and ``FakeBackend`` a
handler-driven one for fast tests of the layers above.
"""

from __future__ import annotations

import abc
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from sandbox.models import EffectiveLimits, Status

#: Called with ("stdout" | "stderr", chunk) as the program produces output.
OutputCallback = Callable[[str, bytes], Awaitable[None] | None]


async def deliver(on_output: OutputCallback | None, stream: str, chunk: bytes) -> None:
    """Hand one output chunk to an optional, sync or async, callback."""
    if on_output is not None:
        value = on_output(stream, chunk)
        if inspect.isawaitable(value):
            await value


@dataclass(frozen=True)
class RunFile:
    """A file for the workdir; ``path`` is relative and already checked."""

    path: str
    data: bytes
    mode: int = 0o644


@dataclass(frozen=True)
class RunSpec:
    """Everything one execution needs, already resolved and validated."""

    image: str
    mode: str  # "python": fork the runner's interpreter; "restricted": same under RestrictedPython; "exec": exec argv
    argv: tuple[str, ...]
    files: tuple[RunFile, ...]
    limits: EffectiveLimits
    stdin: bytes = b""
    env: dict[str, str] = field(default_factory=dict)
    nofile: int = 256
    cpus: float = 1.0
    allowed_modules: tuple[str, ...] = ()  # "restricted" mode only

    @property
    def profile(self) -> tuple[str, int, int, int, float]:
        """What is fixed when a container is created: the warm-pool key."""
        return (self.image, self.limits.memory_mb, self.limits.processes, self.limits.workdir_mb, self.cpus)


@dataclass
class RunOutcome:
    """The facts of one run, with the status already decided."""

    status: Status
    exit_code: int | None = None
    signal: int | None = None
    stdout: bytes = b""
    stderr: bytes = b""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    wall_ms: int = 0
    cpu_ms: int = 0
    peak_memory_bytes: int = 0
    message: str = ""


class Backend(abc.ABC):
    """Runs programs. ``run`` never raises for a program's failure, only for ours.

    Contract: one fresh container (or equivalent) per ``run``; limits enforced;
    nothing the run created survives it. ``aclose`` releases every resource the
    backend holds, warm containers included.
    """

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Prepare (connect, warm pools). Idempotent."""

    async def ping(self) -> None:  # noqa: B027 - optional hook
        """Raise ``SandboxError`` if the backend cannot run anything now."""

    @abc.abstractmethod
    async def run(self, spec: RunSpec, on_output: OutputCallback | None = None) -> RunOutcome:
        """Run ``spec`` once and report what happened."""

    async def open_session(self, spec: RunSpec, lifetime_s: float) -> Any:
        """A long-lived interpreter (see ``DockerBackend.open_session``); optional."""
        from sandbox.errors import EngineError

        raise EngineError(f"{type(self).__name__} does not support sessions")

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Release everything; later ``run`` calls are an error."""

    async def __aenter__(self) -> Backend:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
