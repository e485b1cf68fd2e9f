"""``DockerBackend``: one hardened container per run, from a warm pool when one is ready.

Life of a container: created with the hardening of ``hardening.py``, attached
(stdin, stdout, stderr) *before* it starts so nothing is missed, started, then
parked in a ``WarmPool`` with the runner blocked on stdin. ``acquire`` takes an
execution slot and a container (warm, or created on the spot: the cold path),
waits for the runner's hello, and lends it for one run; when the lease ends the
container is removed (SIGKILL, then delete) in the background and the pool
refills. Every container carries an expiry label and its creator's instance
label; the janitor removes expired containers, those of dead instances and
those this instance no longer holds. When the engine answers again after an
outage (``recovered``), the warm containers that may have died with it are
replaced and the janitor sweeps.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from sandbox import aftercare, instance
from sandbox.config import Settings
from sandbox.engine.base import Backend, BackendSession, Lease
from sandbox.engine.channel import GreetTimeout, RunnerChannel, Stages, StaleContainer, blame_engine
from sandbox.engine.docker import Container, DockerEngine
from sandbox.engine.hardening import LABEL_INSTANCE, container_options
from sandbox.engine.janitor import Janitor
from sandbox.engine.ondemand import image_builds
from sandbox.engine.pool import WarmPool
from sandbox.engine.pools import PoolSet
from sandbox.engine.protocol import encode_message, encode_request, output_digest
from sandbox.engine.session import DockerSession
from sandbox.engine.sizing import Bounds, RefillGate
from sandbox.engine.spec import OutputCallback, PoolReport, Profile, RunOutcome, RunSpec, TestInput
from sandbox.errors import (
    DockerFailing,
    DockerTimeout,
    DockerUnavailable,
    EngineError,
    PoolExhausted,
    RequestRejected,
)
from sandbox.observability import metrics
from sandbox.resilience import RetryPolicy

log = logging.getLogger(__name__)
#: A run that took a warm container starts the refill once its answer is out, or after this
#: long if it runs longer: a creation started at once competes with the run for CPU.
REFILL_DELAY_S = 0.05
#: How long a run's container may take to stop on its own (its runner leaves after the result,
#: seen ~50 ms later) before it is removed anyway, with a kill.
ENDED_WITHIN_S = 1.0


class DockerBackend(Backend):
    """Runs each ``RunSpec`` in its own hardened container (see the module docstring)."""

    def __init__(self, settings: Settings, *, owner: str | None = None) -> None:
        self.settings = settings
        self.owner = owner or settings.owner or uuid.uuid4().hex[:12]
        self.instance = instance.current()
        retry = RetryPolicy(settings.retry_attempts, settings.retry_base_s, settings.retry_max_s)
        threads = settings.max_concurrency * 2 + settings.refill_concurrency + 2
        self.engine = DockerEngine(threads=threads, retry=retry, timeout_s=settings.engine_timeout_s)
        self.janitor = Janitor(self.engine, settings.janitor_interval_s, self.instance, metrics.janitor_removed)
        self._pools: PoolSet[Container] | None = None  # made by start()
        self._sessions: set[DockerSession] = set()
        self._slots: asyncio.Semaphore | None = None
        self._closed = False

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Connect and sweep. If the engine does not answer, the error goes on, but the backend is
        usable (pools may be warmed): it connects on the next ``ping`` and sweeps once ``recovered``."""
        if self._slots is not None:
            return
        self._slots = asyncio.Semaphore(self.settings.max_concurrency)
        settings = self.settings
        self._pools = PoolSet(
            self._creator,
            self._discard,
            capacity=settings.pool_total,
            default_maximum=settings.pool_max,
            shrink_after_s=settings.pool_shrink_after_s,
            on_demand_uses=settings.pool_on_demand_uses if settings.pool_size > 0 else 0,
            max_idle_s=settings.pool_max_idle_s,
            refill_limit=asyncio.Semaphore(settings.refill_concurrency),
            gate=RefillGate(settings.refill_holdoff_s, max_defer_s=4 * settings.refill_holdoff_s),
        )
        self._pools.start()
        await self.engine.connect()
        await self.janitor.start()

    async def ping(self) -> None:
        await self.engine.ping()

    def warm(self, profile: Profile, bounds: Bounds | None = None) -> None:
        """Keep containers of ``profile`` ready, as many as its demand asks within ``bounds`` (default:
        ``pool_size`` to ``pool_max``, none if ``pool_size`` is 0). See ``pools.py``."""
        if self._pools is None:
            raise EngineError("DockerBackend.warm() called before start()")
        if bounds is None and self.settings.pool_size <= 0:
            return
        self._pools.add(profile, bounds or Bounds.between(self.settings.pool_size, self.settings.pool_max))

    def pools(self) -> list[PoolReport]:
        return self._pools.reports() if self._pools is not None else []

    def pool(self, profile: Profile) -> WarmPool[Container] | None:
        """The warm pool of ``profile`` (benchmarks and tests wait on it)."""
        return self._pools.get(profile) if self._pools is not None else None

    def recovered(self) -> None:
        """The engine answers again after an outage: replace warm containers, sweep leftovers."""
        for pool in self._pools or ():
            pool.purge()
        self.janitor.sweep_soon()

    async def aclose(self) -> None:
        """Close sessions and pools, wait for removals, then remove whatever of ours is still there."""
        if self._closed:
            return
        self._closed = True
        await self.janitor.aclose()
        await asyncio.gather(*(session.close() for session in list(self._sessions)), return_exceptions=True)
        if self._pools is not None:
            await self._pools.aclose()
        await self.engine.aclose(sweep=f"{LABEL_INSTANCE}={self.instance.label}")

    # --------------------------------------------------------------------- runs
    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """One of ``max_concurrency`` execution slots; ``PoolExhausted`` after the queue timeout."""
        slots = await self._take_slot()
        try:
            yield
        finally:
            slots.release()

    async def _take_slot(self) -> asyncio.Semaphore:
        """Wait for a slot (an open session holds one for its whole life); returns what to release."""
        if self._slots is None or self._closed:
            raise EngineError("DockerBackend used before start() or after aclose()")
        slots = self._slots
        waiting = time.perf_counter()
        try:
            if slots.locked():  # wait_for costs a task and a timer: only when there is a queue
                await asyncio.wait_for(slots.acquire(), timeout=self.settings.queue_timeout_s)
            else:
                await slots.acquire()
        except TimeoutError:
            raise PoolExhausted(
                f"all {self.settings.max_concurrency} execution slots (runs, and open sessions, which hold "
                f"one each) stayed busy for {self.settings.queue_timeout_s:g} s; retry later"
            ) from None
        finally:
            metrics.queue_waited(time.perf_counter() - waiting)
        return slots

    @asynccontextmanager
    async def acquire(self, spec: RunSpec) -> AsyncIterator[Lease]:
        # A language whose image is not built yet: one background build, and a 503 meanwhile (no slot held).
        await image_builds(self.settings).ensure(spec.image)
        async with self.slot():
            pool = self._pools.for_run(spec.profile) if self._pools is not None else None
            container = await pool.take_or_wait(self.settings.pool_miss_wait_s) if pool is not None else None
            refill = None
            if pool is not None and container is not None:
                refill = asyncio.get_running_loop().call_later(REFILL_DELAY_S, pool.replenish)
            try:
                channel = await self._greet_warm(container) if container is not None else None
                if channel is None:
                    metrics.cold_created(pool.name if pool is not None else "unpooled")
                    container = await self._create(spec.profile, "cold", self._lifetime(pool=False))
                    channel = await self._greet(container)
                try:
                    yield _OneShot(channel)
                finally:
                    # The answer goes out first, instead of sharing two cores with the engine's teardown
                    # and creation (~100-200 ms of dockerd, containerd and runc work): ``aftercare``.
                    # The runner leaves after its last frame: a stopped container costs less to remove.
                    self.engine.discard(channel.container, after_answer=True, ended_within_s=ENDED_WITHIN_S)
            finally:
                if refill is not None and pool is not None:
                    refill.cancel()
                    aftercare.after_answer(pool.replenish)

    async def _greet(self, container: Container, *, blame: bool = True) -> RunnerChannel:
        """The container's channel once its runner said hello; the container is discarded otherwise
        (a fresh one that the engine cut off is a capacity refusal: ``_blame_engine``)."""
        channel = RunnerChannel(
            container, kill_grace_s=self.settings.kill_grace_s, answer_timeout_s=self.settings.start_timeout_s
        )
        try:
            await channel.greet(self.settings.start_timeout_s)
        except BaseException as exc:
            try:
                if blame and isinstance(exc, StaleContainer):
                    await blame_engine(container, exc.message, hung=isinstance(exc, GreetTimeout))
            finally:
                self.engine.discard(container)
            raise
        return channel

    async def _greet_warm(self, container: Container) -> RunnerChannel | None:
        """None when the warm container died while parked (daemon restart, external kill): go cold."""
        try:
            return await self._greet(container, blame=False)
        except StaleContainer as exc:
            log.warning("warm container %s unusable (%s); going cold", container.id[:12], exc.message)
            return None

    # ----------------------------------------------------------------- sessions
    async def open_session(self, spec: RunSpec, lifetime_s: float) -> BackendSession:
        """A session container holding one execution slot until it ends (its cells take no other)."""
        await image_builds(self.settings).ensure(spec.image)
        slots = await self._take_slot()
        try:
            return await self._open_session(spec, lifetime_s, slots)
        except BaseException:
            slots.release()
            raise

    async def _open_session(self, spec: RunSpec, lifetime_s: float, slots: asyncio.Semaphore) -> DockerSession:
        container = await self._create(spec.profile, "session", lifetime_s + self.settings.kill_grace_s + 60)
        channel = await self._greet(container)
        options: dict[str, object] = {
            "cpu_s": self.settings.session_cpu_budget_s,
            "freeze": self.settings.session_freeze,
        }
        try:
            await channel.call(encode_request(spec, session=options))
        except RequestRejected as exc:
            self.engine.discard(container)
            raise EngineError(f"the session did not open: {exc.message}") from exc
        except BaseException:
            self.engine.discard(container)
            raise
        session = DockerSession(
            container,
            channel,
            cpu_budget_s=self.settings.session_cpu_budget_s,
            on_end=functools.partial(self._session_ended, slots=slots),
            interrupt_grace_s=self.settings.session_interrupt_grace_s,
        )
        self._sessions.add(session)
        return session

    def _session_ended(self, session: DockerSession, slots: asyncio.Semaphore) -> None:
        self._sessions.discard(session)
        self.engine.discard(session.container)
        slots.release()

    # ------------------------------------------------------------------ private
    async def _create(self, profile: Profile, kind: str, lifetime_s: float) -> Container:
        options = container_options(
            profile, self.settings, owner=self.owner, kind=kind, lifetime_s=lifetime_s, instance=self.instance.label
        )
        return await self.engine.create(options, kind)

    def _creator(self, profile: Profile) -> Callable[[], Awaitable[Container]]:
        """What a pool of ``profile`` calls to create one warm container."""
        return functools.partial(self._create, profile, "warm", self._lifetime(pool=True))

    async def _discard(self, container: Container) -> None:
        self.engine.discard(container)

    def _lifetime(self, *, pool: bool) -> float:
        # The longest request: a compile and its runs (tests mode) within max_request_wall_time_s, with
        # the host's grace for each stage (a compile, and at most max_tests cases).
        grace = self.settings.kill_grace_s * (self.settings.max_tests + 1)
        run = self.settings.max_request_wall_time_s + grace + 60
        return run + (self.settings.pool_max_idle_s if pool else 0)


def _expected(case: TestInput) -> str | None:
    return None if case.expected_stdout is None else output_digest(case.expected_stdout)


class _OneShot(Lease):
    """A fresh container lent for exactly one run."""

    def __init__(self, channel: RunnerChannel) -> None:
        self._channel = channel
        self._used = False

    async def run(self, spec: RunSpec, on_output: OutputCallback | None = None) -> RunOutcome:
        if self._used:
            raise EngineError("a one-shot container runs one program only")
        self._used = True
        channel = self._channel

        async def go(workdir_bytes: int) -> str | None:  # the compile is over: the run's memory, then go
            memory = spec.limits.memory_mb
            if spec.tests is not None and len(spec.tests) > 1:  # the runner's copy of the workdir, on top
                memory += -(-workdir_bytes // (1 << 20))
            try:
                await channel.container.set_memory(memory)
            except (DockerUnavailable, DockerFailing, DockerTimeout):
                raise
            except EngineError as exc:  # cgroup v1 refuses a limit below what is in use: the workdir's pages
                log.info("the run's memory limit was refused after the compile: %s", exc.message)
                return (
                    f"memory limit reached before the program started: the compile left {workdir_bytes >> 20} MiB "
                    f"in the workdir, and with the runner that does not fit limits.memory_mb={spec.limits.memory_mb}"
                )
            await channel.send(encode_message({"op": "run"}))
            return None

        stages = Stages(
            compile=bool(spec.compile_argv),
            tests=None if spec.tests is None else tuple(_expected(case) for case in spec.tests),
            on_compiled=go if spec.set_run_memory else None,
        )
        try:
            rules = spec.artifacts if spec.tests is None else None
            outcome, _ = await channel.run(encode_request(spec), spec.limits, on_output, stages, rules)
        except OSError as exc:
            raise EngineError(f"lost the connection to container {self._channel.container.id[:12]}: {exc}") from exc
        return outcome
