"""What a run is given (``RunSpec``) and what it gives back (``RunOutcome``): plain values.

Shared by the engine contract (``base.py``), the backends and the service; no
behaviour beyond the pool key and the output callback adapter.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sandbox.models import CompileResult, EffectiveLimits, ExecutionResult, Status, TestCaseResult, TestSummary

#: Called with ("stdout" | "stderr", chunk) as the program produces output.
OutputCallback = Callable[[str, bytes], Awaitable[None] | None]
#: What is fixed when a container is created: (image, memory_mb, processes, workdir_mb, cpus, exec_workdir,
#: preload). A compiled language's container starts with its compile's memory and may run binaries from its
#: workdir; a language with a preload has it started in the container before the request.
Profile = tuple[str, int, int, int, float, bool, tuple[str, ...]]


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
class ArtifactRules:
    """What a run sends back as artifacts: ``out/`` and these globs, within these caps."""

    globs: tuple[str, ...] = ()
    max_files: int = 32
    max_bytes: int = 16 << 20
    #: Workdir entries the runner looks at, at most, to find glob matches.
    max_entries: int = 20000

    def runner_form(self) -> dict[str, object]:
        """As the runner reads it (the request's, or a session cell's, ``artifacts`` part)."""
        return {
            "globs": list(self.globs),
            "max_files": self.max_files,
            "max_bytes": self.max_bytes,
            "max_entries": self.max_entries,
        }


@dataclass(frozen=True)
class CollectedArtifact:
    """One artifact as the runner sent it: its name, size and bytes, or why it was skipped."""

    name: str
    size: int
    data: bytes | None = None
    skipped: str | None = None


@dataclass(frozen=True)
class TestInput:
    """One case of tests mode, as the runner gets it."""

    __test__ = False  # not a pytest class

    stdin: bytes = b""
    args: tuple[str, ...] = ()
    expected_stdout: bytes | None = None


@dataclass(frozen=True)
class RunSpec:
    """Everything one run (or one session cell) needs, already resolved and validated.

    ``mode``: "python" forks the runner's interpreter; "restricted" is the same under
    RestrictedPython; "exec" executes ``argv``; "session" opens a session; "cell" runs
    ``files[0]`` as code in an open session.
    """

    image: str
    mode: str
    argv: tuple[str, ...]
    files: tuple[RunFile, ...]
    limits: EffectiveLimits
    stdin: bytes = b""
    env: dict[str, str] = field(default_factory=dict)
    nofile: int = 256
    cpus: float = 1.0
    allowed_modules: tuple[str, ...] = ()  # "restricted" mode only
    #: Python modes: the program may import from the workdir only the sources that were validated.
    validated_imports: bool = False
    #: A compiled language: the compiler's argv and environment, run first under the ``compile_*`` limits.
    compile_argv: tuple[str, ...] = ()
    compile_env: dict[str, str] = field(default_factory=dict)
    #: The container's memory when created (the compile's, for a compiled language); None: ``limits.memory_mb``.
    container_memory_mb: int | None = None
    #: After the compile, the host lowers (or raises) the container's memory to ``limits.memory_mb``.
    set_run_memory: bool = False
    #: Tests mode: the cases, and the bytes of each case's stdout and stderr kept in its result.
    tests: tuple[TestInput, ...] | None = None
    head_bytes: int = 8 << 10
    #: The language's preload (``LanguageSpec.preload``), started when the container is: empty for none.
    preload: tuple[str, ...] = ()
    #: The files to send back after the run (not in tests mode); None: none.
    artifacts: ArtifactRules | None = None

    @property
    def profile(self) -> Profile:
        """What is fixed when a container is created: the warm-pool key."""
        memory = self.container_memory_mb or self.limits.memory_mb
        return (
            self.image,
            memory,
            self.limits.processes,
            self.limits.workdir_mb,
            self.cpus,
            bool(self.compile_argv),
            self.preload,
        )


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
    compile: CompileResult | None = None
    tests: list[TestCaseResult] | None = None
    summary: TestSummary | None = None
    #: What the runner sent back; described (media type, digest) and stored by the service.
    artifacts: list[CollectedArtifact] = field(default_factory=list)

    def to_result(self) -> ExecutionResult:
        """The public result of this run; output is decoded as UTF-8 with replacement."""
        return ExecutionResult(
            compile=self.compile,
            tests=self.tests,
            summary=self.summary,
            status=self.status,
            exit_code=self.exit_code,
            signal=self.signal,
            stdout=self.stdout.decode("utf-8", errors="replace"),
            stderr=self.stderr.decode("utf-8", errors="replace"),
            stdout_truncated=self.stdout_truncated,
            stderr_truncated=self.stderr_truncated,
            wall_ms=self.wall_ms,
            cpu_ms=self.cpu_ms,
            peak_memory_bytes=self.peak_memory_bytes,
            message=self.message,
        )


@dataclass(frozen=True)
class PoolReport:
    """One warm pool as readiness and metrics see it (the counts are running totals)."""

    name: str
    ready: int  # warm containers ready now
    target: int  # how many it aims at now: between minimum and maximum, within its share of the cap
    hits: int = 0  # runs that took a warm container
    misses: int = 0  # runs that found the pool empty
    created: int = 0  # containers created to fill it
    failures: int = 0  # creations that failed
    minimum: int = 0
    maximum: int = 0
    hit_ratio: float | None = None  # hits among its recent takes; None before the first
