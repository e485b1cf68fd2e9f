"""The Docker backend: one hardened container per run, from a warm pool when one is ready.

The only module (besides the image builder) that imports ``docker``. Blocking
SDK calls run on a private thread pool; the exchange with the runner runs on the
event loop over the container's raw attach socket, so a run never waits on a
thread while output streams.

Life of a container: created with the hardening of ``hardening.py``, attached
(stdin, stdout, stderr) *before* it starts so nothing is missed, started, then
parked in a ``WarmPool`` with the runner blocked on stdin. A run takes it, sends
one request, reads frames until the result or the host deadline, and removes it
(``force=True``: SIGKILL, then delete) in the background. Every container
carries an expiry label; the janitor removes any labelled container past it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import json
import logging
import signal as signals
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import docker
import docker.errors
import requests.exceptions
from docker.types import LogConfig, Ulimit

from sandbox.config import Settings
from sandbox.engine.base import Backend, OutputCallback, RunOutcome, RunSpec, deliver
from sandbox.engine.hardening import LABEL_EXPIRES, LABEL_MANAGED, container_options
from sandbox.engine.outcome import HostView, classify
from sandbox.engine.pool import WarmPool
from sandbox.engine.protocol import (
    FrameReader,
    ProtocolError,
    RunnerReport,
    encode_message,
    encode_request,
    runner_limits,
)
from sandbox.errors import DockerUnavailable, EngineError, PoolExhausted, RequestRejected, SandboxError
from sandbox.models import EffectiveLimits, Status

log = logging.getLogger(__name__)
T = TypeVar("T")
Profile = tuple[str, int, int, int, float]
REFILL_DELAY_S = 0.05


@contextlib.contextmanager
def map_docker_errors(action: str) -> Iterator[None]:
    """Translate Docker SDK and transport errors into the service's error tree."""
    try:
        yield
    except SandboxError:
        raise
    except docker.errors.ImageNotFound as exc:
        raise EngineError(f"{action}: image not found; run `sandbox images build` ({exc.explanation})") from exc
    except docker.errors.NotFound as exc:
        raise EngineError(f"{action}: {exc.explanation or exc}") from exc
    except docker.errors.APIError as exc:
        raise EngineError(f"{action}: Docker API error: {exc.explanation or exc}") from exc
    except (requests.exceptions.ConnectionError, ConnectionError, FileNotFoundError) as exc:
        raise DockerUnavailable(f"{action}: the Docker engine does not answer ({exc})") from exc
    except requests.exceptions.RequestException as exc:
        raise EngineError(f"{action}: request to the Docker engine failed: {exc}") from exc
    except docker.errors.DockerException as exc:
        if "Error while fetching server API version" in str(exc):
            raise DockerUnavailable(f"{action}: the Docker engine does not answer ({exc})") from exc
        raise EngineError(f"{action}: {exc}") from exc


class StaleContainer(EngineError):
    """The container died before its runner greeted us: no program ran in it."""


@dataclass(eq=False)
class Sandbox:
    """A started container with its runner waiting on the attach socket."""

    id: str
    sock: socket.socket
    keepalive: Any  # the SDK's socket wrapper and response; closing them closes the socket
    created: float = field(default_factory=time.monotonic)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
        with contextlib.suppress(Exception):
            self.keepalive.close()


class DockerBackend(Backend):
    """Runs each ``RunSpec`` in its own hardened container (see module docstring)."""

    def __init__(self, settings: Settings, *, owner: str | None = None) -> None:
        self.settings = settings
        self.owner = owner or settings.owner or uuid.uuid4().hex[:12]
        workers = settings.max_concurrency * 2 + settings.refill_concurrency + 2
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="docker")
        self._max_pool = workers
        self._client: docker.DockerClient | None = None
        self._pools: dict[Profile, WarmPool[Sandbox]] = {}
        self._slots: asyncio.Semaphore | None = None
        self._refill_limit: asyncio.Semaphore | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._creations: set[asyncio.Future[Sandbox]] = set()
        self._janitor: asyncio.Task[None] | None = None
        self._closed = False

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        if self._client is not None:
            return
        self._slots = asyncio.Semaphore(self.settings.max_concurrency)
        self._refill_limit = asyncio.Semaphore(self.settings.refill_concurrency)

        def connect() -> docker.DockerClient:
            client = docker.from_env(max_pool_size=self._max_pool, timeout=60)
            client.ping()
            return client

        self._client = await self._call("connect to the Docker engine", connect)
        await self.sweep()
        self._janitor = asyncio.create_task(self._janitor_loop(), name="janitor")

    async def ping(self) -> None:
        await self._call("ping the Docker engine", self.api.ping)

    def warm(self, profile: Profile, size: int | None = None) -> WarmPool[Sandbox]:
        """Keep ``size`` containers of ``profile`` ready (default ``settings.pool_size``)."""
        if self._refill_limit is None:
            raise EngineError("DockerBackend.warm() called before start()")
        pool = self._pools.get(profile)
        if pool is None:
            lifetime = self._lifetime(pool=True)
            pool = WarmPool(
                f"{profile[0]}/{profile[1]}m",
                functools.partial(self._create, profile, "warm", lifetime),
                self._destroy,
                size=self.settings.pool_size if size is None else size,
                max_idle_s=self.settings.pool_max_idle_s,
                refill_limit=self._refill_limit,
            )
            self._pools[profile] = pool
            pool.start()
        return pool

    @property
    def pools(self) -> dict[Profile, WarmPool[Sandbox]]:
        return dict(self._pools)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._janitor is not None:
            self._janitor.cancel()
        await asyncio.gather(*(pool.aclose() for pool in self._pools.values()), return_exceptions=True)
        # Creations whose caller was cancelled still finish in their threads; their
        # containers are removed by background tasks awaited just below.
        while self._creations:
            await asyncio.gather(*list(self._creations), return_exceptions=True)
            await asyncio.sleep(0)  # let done-callbacks schedule the removals
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)
        if self._client is not None:
            self._client.close()
        self._executor.shutdown(wait=True)

    # ------------------------------------------------------------------------ run
    async def run(self, spec: RunSpec, on_output: OutputCallback | None = None) -> RunOutcome:
        if self._slots is None or self._closed:
            raise EngineError("DockerBackend.run() called before start() or after aclose()")
        try:
            await asyncio.wait_for(self._slots.acquire(), timeout=self.settings.queue_timeout_s)
        except TimeoutError:
            raise PoolExhausted(
                f"all {self.settings.max_concurrency} execution slots stayed busy for "
                f"{self.settings.queue_timeout_s:g} s; retry later"
            ) from None
        try:
            pool = self._pools.get(spec.profile)
            box = pool.take() if pool is not None else None
            if box is not None:
                # Refill when this run ends, or after REFILL_DELAY_S if it runs longer:
                # a creation started now would compete with the run for CPU.
                refill = asyncio.get_running_loop().call_later(REFILL_DELAY_S, pool.replenish)
                try:
                    return await self._run_in(box, spec, on_output)
                except StaleContainer as exc:
                    # Died while parked (daemon restart, external kill); no program ran: go cold.
                    log.warning("warm container %s unusable (%s); going cold", box.id[:12], exc.message)
                finally:
                    refill.cancel()
                    pool.replenish()
            box = await self._create(spec.profile, "cold", self._lifetime(pool=False))
            return await self._run_in(box, spec, on_output)
        finally:
            self._slots.release()

    async def _run_in(self, box: Sandbox, spec: RunSpec, on_output: OutputCallback | None) -> RunOutcome:
        try:
            return await self._exchange(box, spec, on_output)
        except OSError as exc:
            raise EngineError(f"lost the connection to container {box.id[:12]}: {exc}") from exc
        finally:
            self._spawn(self._destroy(box))

    async def _exchange(self, box: Sandbox, spec: RunSpec, on_output: OutputCallback | None) -> RunOutcome:
        reader = await self._greet(box)
        started = time.monotonic()
        await asyncio.get_running_loop().sock_sendall(box.sock, encode_request(spec))
        outcome, _ = await self._collect(box, reader, spec.limits, started, on_output)
        return outcome

    async def _greet(self, box: Sandbox) -> FrameReader:
        """Wait for the runner's hello: proof the container is alive before anything is sent."""
        reader = FrameReader(box.sock)
        reader.deadline = time.monotonic() + self.settings.start_timeout_s
        try:
            hello = await reader.next()
        except TimeoutError:
            raise StaleContainer(f"the runner did not greet within {self.settings.start_timeout_s:g} s") from None
        if hello is None:
            raise StaleContainer("the container ended before its runner greeted")
        if hello.kind != "hello":
            raise ProtocolError(f"expected a hello frame, got {hello.kind}")
        return reader

    async def _collect(
        self,
        box: Sandbox,
        reader: FrameReader,
        limits: EffectiveLimits,
        started: float,
        on_output: OutputCallback | None,
    ) -> tuple[RunOutcome, RunnerReport | None]:
        """Read one request's frames up to its result, enforcing the host's deadline and caps."""
        reader.deadline = started + limits.wall_time_s + self.settings.kill_grace_s
        out = {"stdout": bytearray(), "stderr": bytearray()}
        caps = {"stdout": limits.stdout_bytes, "stderr": limits.stderr_bytes}
        report: RunnerReport | None = None
        host = HostView()
        error: str | None = None
        while report is None and error is None and not host.output_limit:
            try:
                frame = await reader.next()
            except TimeoutError:
                host = HostView(timed_out=True)
                break
            except ProtocolError as exc:
                error = f"runner protocol error: {exc.message}"
                break
            if frame is None:
                host = HostView(runner_lost=True)
            elif frame.kind in out:
                room = caps[frame.kind] - len(out[frame.kind])
                piece = frame.payload[: max(room, 0)]
                out[frame.kind] += piece
                if piece:
                    await deliver(on_output, frame.kind, piece)
                if len(frame.payload) > room:
                    host = HostView(output_limit=frame.kind)
            elif frame.kind == "result":
                try:
                    report = RunnerReport.parse(frame.payload)
                except ProtocolError as exc:
                    error = exc.message
            elif frame.kind == "error":
                error = f"runner: {frame.payload[:500].decode(errors='replace')}"
            else:
                error = f"runner protocol error: unexpected {frame.kind} frame"
            if host.runner_lost:
                break

        wall_ms = int((time.monotonic() - started) * 1000)
        if host.timed_out or host.output_limit:
            await self._quiet(self._kill, box.id)  # kill now; removal follows in the background
        diag = reader.diag.decode(errors="replace")[-300:]
        if error is not None:
            raise EngineError(error + (f"; runner stderr: {diag}" if diag else ""))
        killed_plainly = report is not None and report.signal == signals.SIGKILL and not report.timed_out
        if (host.runner_lost or killed_plainly) and await self._oom_killed(box.id):
            host = HostView(oom_killed=True, runner_lost=host.runner_lost)
        status, message = classify(report, host, limits.wall_time_s, limits.cpu_time_s)
        if host.runner_lost and not host.oom_killed and diag:
            message += f"; runner stderr: {diag}"
        if report is not None and not host.timed_out:
            wall_ms = report.wall_ms
        outcome = RunOutcome(
            status=status,
            exit_code=report.exit_code if report else None,
            signal=report.signal if report else (signals.SIGKILL if host.timed_out else None),
            stdout=bytes(out["stdout"]),
            stderr=bytes(out["stderr"]),
            stdout_truncated=host.output_limit == "stdout" or bool(report and report.stdout_truncated),
            stderr_truncated=host.output_limit == "stderr" or bool(report and report.stderr_truncated),
            wall_ms=wall_ms,
            cpu_ms=report.cpu_ms if report else 0,
            peak_memory_bytes=report.peak_memory_bytes if report else 0,
            message=message,
        )
        return outcome, report

    # --------------------------------------------------------------- sessions
    async def open_session(self, spec: RunSpec, lifetime_s: float) -> RunnerSession:
        """A dedicated container whose interpreter keeps its state between ``execute`` calls."""
        if self._slots is None or self._closed:
            raise EngineError("DockerBackend.open_session() called before start() or after aclose()")
        box = await self._create(spec.profile, "session", lifetime_s + self.settings.kill_grace_s + 60)
        try:
            reader = await self._greet(box)
            await asyncio.get_running_loop().sock_sendall(box.sock, encode_request(spec))
            reader.deadline = time.monotonic() + self.settings.start_timeout_s
            frame = await reader.next()
            if frame is None or frame.kind != "result":
                detail = frame.payload[:300].decode(errors="replace") if frame is not None else "no answer"
                raise EngineError(f"the session did not open: {detail}")
        except BaseException:
            self._spawn(self._destroy(box))
            raise
        return RunnerSession(self, box, reader)

    # ------------------------------------------------------------ docker calls
    async def _call(self, action: str, fn: Callable[..., T], *args: Any) -> T:
        def guarded() -> T:
            with map_docker_errors(action):
                return fn(*args)

        return await asyncio.get_running_loop().run_in_executor(self._executor, guarded)

    async def _quiet(self, fn: Callable[..., Any], *args: Any) -> None:
        with contextlib.suppress(SandboxError):
            await self._call(fn.__name__, fn, *args)

    @property
    def api(self) -> docker.APIClient:
        if self._client is None:
            raise EngineError("the Docker backend is not started")
        return self._client.api

    async def _create(self, profile: Profile, kind: str, lifetime_s: float) -> Sandbox:
        """Create, attach and start a container; never leaks one, even when cancelled.

        The creation runs in a thread that cancellation cannot stop (a client that
        goes away, a pool closing): if the caller is cancelled, the container that
        thread still produces is removed as soon as it exists.
        """

        def create() -> Sandbox:
            with map_docker_errors(f"create a {kind} container"):
                return self._create_blocking(profile, kind, lifetime_s)

        future = asyncio.get_running_loop().run_in_executor(self._executor, create)
        self._creations.add(future)
        future.add_done_callback(self._creations.discard)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            future.add_done_callback(self._remove_orphan)
            raise

    def _remove_orphan(self, future: asyncio.Future[Sandbox]) -> None:
        if not future.cancelled() and future.exception() is None:
            self._spawn(self._destroy(future.result()))

    def _create_blocking(self, profile: Profile, kind: str, lifetime_s: float) -> Sandbox:
        api = self.api
        options = container_options(profile, self.settings, owner=self.owner, kind=kind, lifetime_s=lifetime_s)
        host = dict(options.host)
        host["ulimits"] = [Ulimit(**u) for u in host["ulimits"]]
        host["log_config"] = LogConfig(**host["log_config"])
        container_id = api.create_container(**options.create, host_config=api.create_host_config(**host))["Id"]
        try:
            wrapper = api.attach_socket(container_id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
            raw = getattr(wrapper, "_sock", wrapper)
            raw.setblocking(False)
            api.start(container_id)
        except BaseException:
            with contextlib.suppress(Exception):
                api.remove_container(container_id, force=True)
            raise
        return Sandbox(container_id, raw, wrapper)

    async def _destroy(self, box: Sandbox) -> None:
        box.close()
        await self._call("remove a container", self._remove_blocking, box.id)

    def _remove_blocking(self, container_id: str) -> None:
        try:
            self.api.remove_container(container_id, force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if "already in progress" not in str(exc):
                raise

    def _kill(self, container_id: str) -> None:
        self.api.kill(container_id, signal="SIGKILL")

    async def _oom_killed(self, container_id: str) -> bool:
        try:
            state = await self._call("inspect a container", self.api.inspect_container, container_id)
        except SandboxError:
            return False
        return bool(state.get("State", {}).get("OOMKilled"))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._reap_task)

    def _reap_task(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("background container removal failed: %s", task.exception())

    def _lifetime(self, *, pool: bool) -> float:
        run = self.settings.max_wall_time_s + self.settings.kill_grace_s + 60
        return run + (self.settings.pool_max_idle_s if pool else 0)

    # ------------------------------------------------------------------- janitor
    async def sweep(self) -> int:
        """Remove every labelled container whose expiry has passed; returns how many."""
        containers = await self._call(
            "list sandbox containers",
            functools.partial(self.api.containers, all=True, filters={"label": f"{LABEL_MANAGED}=1"}),
        )
        now = time.time()
        expired = [c["Id"] for c in containers if _expiry(c.get("Labels") or {}) <= now]
        for container_id in expired:
            await self._quiet(self._remove_blocking, container_id)
        if expired:
            log.info("janitor: removed %d expired container(s)", len(expired))
        return len(expired)

    async def _janitor_loop(self) -> None:
        while not self._closed:
            await asyncio.sleep(self.settings.janitor_interval_s)
            try:
                await self.sweep()
            except SandboxError as exc:
                log.warning("janitor: %s", exc.message)


def _expiry(labels: dict[str, str]) -> float:
    try:
        return float(labels.get(LABEL_EXPIRES, "0"))
    except ValueError:
        return 0.0


class RunnerSession:
    """One open session: ``execute`` cells, ``put``/``get`` files, ``close``. One call at a time."""

    def __init__(self, backend: DockerBackend, box: Sandbox, reader: FrameReader) -> None:
        self._backend = backend
        self._box = box
        self._reader = reader
        self._lock = asyncio.Lock()
        self.ended = False

    @property
    def container_id(self) -> str:
        return self._box.id

    async def execute(self, code: str, spec: RunSpec, on_output: OutputCallback | None = None) -> RunOutcome:
        """Run one cell; a cell that times out, overflows or crashes ends the session."""
        async with self._lock:
            self._check_open()
            started = time.monotonic()
            message = {"op": "exec", "code": code, "limits": runner_limits(spec)}
            await self._send(message)
            try:
                outcome, report = await self._backend._collect(self._box, self._reader, spec.limits, started, on_output)
            except BaseException:
                await self._end()
                raise
            if (
                report is None
                or getattr(report, "session_ended", False)
                or (outcome.status is not Status.OK and (outcome.status not in (Status.RUNTIME_ERROR,)))
            ):
                await self._end()
            return outcome

    async def put(self, path: str, data: bytes) -> None:
        async with self._lock:
            self._check_open()
            await self._send({"op": "put", "path": path, "data": base64.b64encode(data).decode()})
            await self._answer()

    async def get(self, path: str) -> bytes:
        async with self._lock:
            self._check_open()
            await self._send({"op": "get", "path": path})
            return await self._answer()

    async def close(self) -> None:
        async with self._lock:
            if not self.ended:
                with contextlib.suppress(OSError):
                    await self._send({"op": "close"})
                await self._end()

    # ------------------------------------------------------------------ private
    def _check_open(self) -> None:
        if self.ended:
            raise EngineError("the session has ended")

    async def _send(self, message: dict[str, Any]) -> None:
        await asyncio.get_running_loop().sock_sendall(self._box.sock, encode_message(message))

    async def _answer(self) -> bytes:
        """The file bytes (if any) up to the result frame; the runner's refusal as RequestRejected."""
        self._reader.deadline = time.monotonic() + self._backend.settings.start_timeout_s
        content = b""
        while True:
            frame = await self._reader.next()
            if frame is None:
                await self._end()
                raise EngineError("the session's container ended")
            if frame.kind == "file":
                content = frame.payload
            elif frame.kind == "result":
                return content
            elif frame.kind == "error":
                try:
                    reason = str(json.loads(frame.payload)["error"])
                except (ValueError, KeyError, TypeError):
                    reason = frame.payload[:300].decode(errors="replace")
                raise RequestRejected(reason[:300])

    async def _end(self) -> None:
        if not self.ended:
            self.ended = True
            self._backend._spawn(self._backend._destroy(self._box))
