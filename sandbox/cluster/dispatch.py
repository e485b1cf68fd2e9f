"""The replica's end of scale-out: a ``Backend`` whose runs happen on a ``sandbox worker``.

``build_service`` composes ``DispatchBackend`` instead of the Docker stack when
``SANDBOX_REDIS_URL`` is set; everything above the backend (the staged
``Execution``, the managers, the doors) is the same code in both modes. A one-shot
run is a job on the ``sandbox:jobs`` stream, read by the workers' consumer group:
a worker reads a job only when it has a free slot, claims it (``SET owner NX``)
and answers on the job's own reply stream (``start``, output chunks, then ``end``
or ``error``), which this replica reads while its client waits, streams or
cancels. A session is opened the same way and then pinned: its cells and file
calls go to its worker's own call stream.

Who decides a job's fate is whoever sets its owner first: the worker that starts
it, or this replica giving up on it (the queue wait ran out, or the caller
cancelled before it started). So a job never runs after its caller was told it
did not, and never runs twice. A worker that dies mid-run stops refreshing its
heartbeat; the replica waiting on it (and the other workers' reclaim loop,
``XAUTOCLAIM``) end the run with ``WorkerLost``: a ``capacity_unavailable``
result that says the program was not run again.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from sandbox.cluster import wire
from sandbox.config import Settings
from sandbox.engine import (
    Backend,
    BackendSession,
    Bounds,
    Lease,
    OutputCallback,
    PoolReport,
    Profile,
    RunOutcome,
    RunSpec,
    deliver,
)
from sandbox.errors import DispatchUnavailable, EngineError, NotFound, PoolExhausted, WorkerLost
from sandbox.models import SessionFiles
from sandbox.secrets.keys import KeyProvider, LazyKeyProvider

log = logging.getLogger(__name__)

JOBS = "sandbox:jobs"  # the stream every worker's consumer group reads
GROUP = "workers"
WORKERS = "sandbox:workers"  # sorted set: worker name -> its last heartbeat (ms since the epoch)
#: How long a finished job's owner and reply stream stay (a late duplicate or reader sees them).
KEEP_S = 600


def reply_key(job: str) -> str:
    return f"sandbox:job:{job}"


def owner_key(job: str) -> str:
    return f"sandbox:job:{job}:owner"


def worker_name(ident: str) -> str:
    """The name part of a worker's identity ``name:incarnation`` (what its keys and streams are named by)."""
    return ident.partition(":")[0]


async def worker_alive(client: aioredis.Redis, ident: str) -> bool:
    """Whether the worker process ``ident`` (``name:incarnation``) still beats. A worker restarted under the
    same name is another incarnation: the runs and sessions of the one before it are lost."""
    name, _, incarnation = ident.partition(":")
    value = await client.get(worker_key(name))
    if value is None:
        return False
    try:
        return not incarnation or json.loads(value).get("incarnation") == incarnation
    except (ValueError, AttributeError):
        return False


def worker_key(name: str) -> str:
    return f"sandbox:worker:{name}"


def calls_key(name: str) -> str:
    return f"sandbox:worker:{name}:calls"


def cancel_channel(name: str) -> str:
    return f"sandbox:cancel:{name}"


def session_key(session_id: str) -> str:
    return f"sandbox:session:{session_id}"


def key_sessions(key_id: str) -> str:
    return f"sandbox:sessions:{key_id}"


def connect(settings: Settings) -> aioredis.Redis:
    """A client whose commands give up after ``redis_timeout_s`` (blocking reads block for less)."""
    assert settings.redis_url is not None
    client: aioredis.Redis = aioredis.Redis.from_url(
        settings.redis_url,
        socket_timeout=settings.redis_timeout_s + 2.0,
        socket_connect_timeout=settings.redis_timeout_s,
        health_check_interval=30,
    )
    return client


@contextlib.contextmanager
def unreachable_is_503() -> Iterator[None]:
    """Redis down or slow is a 503 with Retry-After (``DispatchUnavailable``), never a 500."""
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        raise DispatchUnavailable(
            f"the dispatch queue (Redis) is unreachable ({type(exc).__name__}); retry shortly"
        ) from None


def raise_if_cancelled() -> None:
    """Re-raise a cancellation of this task that a redis-py command swallowed.

    A ``cancel()`` that lands inside a redis-py asyncio command is sometimes lost: the command
    returns as if nothing happened (redis/redis-py#2028, #2551; seen here with redis-py 6.4 on
    Python 3.11), so a loop around Redis calls would go on forever after being cancelled. The
    request stays counted (``Task.cancelling()``), so every such loop checks it once a turn.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


@contextlib.contextmanager
def malformed_is_engine_error(what: str) -> Iterator[None]:
    """A frame or answer that is not what a worker writes (junk on a stream) is an ``EngineError``, not a 500."""
    try:
        yield
    except (KeyError, ValueError, TypeError, AttributeError) as exc:  # binascii.Error is a ValueError
        raise EngineError(f"{what} is malformed ({type(exc).__name__}); the program's result is unknown") from None


async def read_frames(client: aioredis.Redis, key: str, after: str, block_ms: int) -> list[tuple[str, dict[str, Any]]]:
    """Frames of a reply stream past ``after`` (waits up to ``block_ms`` for the first)."""
    with unreachable_is_503():
        answer = await client.xread({key: after}, count=256, block=block_ms)
    frames: list[tuple[str, dict[str, Any]]] = []
    for _, entries in answer or []:
        for entry_id, values in entries:
            with malformed_is_engine_error("a frame on the reply stream"):
                frame = json.loads(values[b"f"])
                if not isinstance(frame, dict):
                    raise TypeError("not an object")
            frames.append((entry_id.decode(), frame))
    return frames


class DispatchBackend(Backend):
    """See the module docstring."""

    remote = True

    def __init__(self, settings: Settings, keys: KeyProvider | None = None) -> None:
        self.settings = settings
        self.keys = keys or LazyKeyProvider(settings)
        self.redis = connect(settings)
        self._reports: tuple[float, list[dict[str, Any]]] = (0.0, [])
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Make sure the jobs stream and its consumer group exist (workers do the same)."""
        with contextlib.suppress(RedisError, OSError):  # Redis down at start: requests answer 503 until it is up
            await ensure_group(self.redis)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.redis.aclose()

    # ---------------------------------------------------------------- status
    async def ping(self) -> None:
        """Redis answers (and the workers' reports are fresh for ``conditions`` and ``pools``).

        No live worker is not a reason for a replica to leave its load balancer: it answers each
        run with a 503 and Retry-After then, which a client can act on, rather than no answer.
        """
        await self.live_workers()
        with unreachable_is_503():
            await self.redis.ping()

    async def live_workers(self) -> list[dict[str, Any]]:
        """The reports of the workers whose heartbeat is fresh (cached for one heartbeat)."""
        at, reports = self._reports
        if time.monotonic() - at < self.settings.worker_heartbeat_s:
            return reports
        with unreachable_is_503():
            names = await self.redis.zrangebyscore(
                WORKERS, _now_ms() - self.settings.worker_dead_after_s * 1000, "+inf"
            )
            values = await self.redis.mget([worker_key(n.decode()) for n in names]) if names else []
        reports = [json.loads(value) for value in values if value is not None]
        self._reports = (time.monotonic(), reports)
        return reports

    def pools(self) -> list[PoolReport]:
        """Every live worker's pools, named ``<worker>/<pool>`` (as of their last heartbeat)."""
        return [
            _pool_report({**pool, "name": f"{report['name']}/{pool['name']}"})
            for report in self._reports[1]
            for pool in report.get("pools", [])
        ]

    def conditions(self) -> dict[str, str]:
        reports = self._reports[1]
        conditions = {"workers": str(len(reports))}
        if reports and all(r.get("conditions", {}).get("breaker") == "open" for r in reports):
            conditions["breaker"] = "open"  # every worker's engine is failing: not ready
        return conditions

    def warm(self, profile: Profile, bounds: Bounds | None = None) -> None:
        """Workers keep their own pools warm."""

    # ------------------------------------------------------------------ runs
    def acquire(self, spec: RunSpec) -> AbstractAsyncContextManager[Lease]:
        return self._acquire()

    @asynccontextmanager
    async def _acquire(self) -> AsyncIterator[Lease]:
        if not await self.live_workers():
            raise DispatchUnavailable("no sandbox worker is alive to run programs; retry shortly")
        yield _QueuedLease(self)

    async def submit(self, kind: str, spec: RunSpec, **extra: Any) -> str:
        """Put a job on the jobs stream; returns its id (its reply stream is ``reply_key(id)``)."""
        job = uuid.uuid4().hex
        payload = {"kind": kind, "job": job, "spec": wire.spec_to_wire(spec, job, self.keys), **extra}
        with unreachable_is_503():
            await self.redis.xadd(JOBS, {"job": json.dumps(payload)})
        return job

    async def follow(self, job: str, on_output: OutputCallback | None, *, worker: str | None = None) -> dict[str, Any]:
        """Read a job's reply stream to its ``end`` frame (returned); ``error`` frames raise.

        ``worker`` is None for a queued job: it may wait ``queue_timeout_s`` for a worker to
        start it, then it is abandoned (``PoolExhausted``). Once a worker runs it, the worker's
        heartbeat is checked whenever nothing came for a heartbeat: a dead one is ``WorkerLost``.
        """
        settings = self.settings
        block_ms = max(int(settings.worker_heartbeat_s * 1000), 50)
        queued_until = time.monotonic() + settings.queue_timeout_s
        # A call on a worker's own stream is taken at once by a live one; one never taken was lost
        # (its worker restarted between our check and its read).
        untaken_until = time.monotonic() + settings.worker_dead_after_s if worker is not None else None
        after = "0-0"
        try:
            while True:
                raise_if_cancelled()
                frames = await read_frames(self.redis, reply_key(job), after, block_ms)
                if not frames:
                    if untaken_until is not None and time.monotonic() > untaken_until:
                        raise WorkerLost(
                            f"the worker {worker_name(worker or '')} did not take the call; it was not run"
                        )
                    worker = await self._check(job, worker, queued_until)
                    continue
                untaken_until = None
                for entry, frame in frames:
                    after = entry
                    kind = frame.get("t")
                    with malformed_is_engine_error("the worker's answer"):
                        if kind == "start":
                            worker = str(frame["worker"])
                        elif kind == "out":
                            stream, chunk = str(frame["k"]), wire.unb64(frame["d"])
                        elif kind == "error":
                            error = wire.error_from_wire(frame)
                    if kind == "out":
                        await deliver(on_output, stream, chunk)
                    elif kind == "end":
                        return frame
                    elif kind == "error":
                        raise error
        except asyncio.CancelledError:
            await asyncio.shield(self._cancel(job, worker))
            raise
        finally:
            self._later(self._forget(job))

    async def _check(self, job: str, worker: str | None, queued_until: float) -> str | None:
        """Nothing came for a heartbeat: is the job still queued past its wait, or its worker dead?"""
        with unreachable_is_503():
            if worker is None:
                owner = await self.redis.get(owner_key(job))
                if owner is None:
                    if time.monotonic() < queued_until:
                        return None
                    if await self.redis.set(owner_key(job), "abandoned", nx=True, ex=KEEP_S):
                        raise PoolExhausted(
                            f"no worker had a free slot within {self.settings.queue_timeout_s:g} s; retry later"
                        )
                    owner = await self.redis.get(owner_key(job))
                if owner is None:
                    return None
                worker = owner.decode()
            if not await worker_alive(self.redis, worker):
                raise WorkerLost(
                    f"the worker running it ({worker_name(worker)}) stopped; the program was not run again, "
                    "and its output so far is kept"
                )
        return worker

    async def _cancel(self, job: str, worker: str | None) -> None:
        """The caller cancelled: a job not started never will be; a running one is killed by its worker,
        and we wait (bounded) for its end so the container is gone when the cancellation is recorded."""
        try:
            with unreachable_is_503():
                if worker is None and await self.redis.set(owner_key(job), "cancelled", nx=True, ex=KEEP_S):
                    return
                owner = worker or (await self.redis.get(owner_key(job)) or b"").decode()
                await self.redis.publish(cancel_channel(worker_name(owner)), job)
            async with asyncio.timeout(self.settings.kill_grace_s + 10):
                after = "0-0"
                while True:
                    frames = await read_frames(self.redis, reply_key(job), after, 500)
                    for entry, frame in frames:
                        after = entry
                        if frame.get("t") in ("end", "error", "cancelled"):
                            return
                    if not frames and not await worker_alive(self.redis, owner):
                        return
        except (TimeoutError, DispatchUnavailable, RedisError) as exc:
            log.warning("cancelling job %s: its end was not confirmed (%s)", job, exc)

    async def _forget(self, job: str) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self.redis.delete(reply_key(job))

    def _later(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -------------------------------------------------------------- sessions
    async def open_session(self, spec: RunSpec, lifetime_s: float) -> BackendSession:
        if not await self.live_workers():
            raise DispatchUnavailable("no sandbox worker is alive to open a session; retry shortly")
        job = await self.submit("open", spec, lifetime_s=lifetime_s)
        end = await self.follow(job, None)
        with malformed_is_engine_error("the worker's answer"):
            return RemoteSession(self, str(end["worker"]), str(end["session"]), str(end.get("instance", "")))

    async def share_session(
        self, session_id: str, sandbox: BackendSession, spec: RunSpec, record: dict[str, Any], ttl_s: float
    ) -> None:
        """The session's directory entry: its record, its opening spec (no environment: the values of its
        secrets stay in its interpreter) and where it lives; listed under its key."""
        assert isinstance(sandbox, RemoteSession)
        entry = {
            **record,
            "worker": sandbox.worker,
            "remote": sandbox.session,
            "instance": sandbox.instance,
            "spec": wire.spec_to_wire(wire.without_env(spec), session_id, self.keys),
        }
        ttl = max(int(ttl_s), 1)
        with unreachable_is_503():
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.set(session_key(session_id), json.dumps(entry), ex=ttl)
                pipe.sadd(key_sessions(record["key_id"]), session_id)
                pipe.expire(key_sessions(record["key_id"]), ttl)
                await pipe.execute()

    async def shared_session(self, session_id: str) -> tuple[BackendSession, RunSpec, dict[str, Any]] | None:
        with unreachable_is_503():
            value = await self.redis.get(session_key(session_id))
        if value is None:
            return None
        entry = json.loads(value)
        spec = wire.spec_from_wire(entry.pop("spec"), session_id, self.keys)
        sandbox = RemoteSession(self, entry.pop("worker"), entry.pop("remote"), entry.pop("instance", ""))
        return sandbox, spec, entry

    async def shared_sessions(self, key_id: str) -> list[dict[str, Any]]:
        with unreachable_is_503():
            members = await cast(Awaitable[set[bytes]], self.redis.smembers(key_sessions(key_id)))
            ids = sorted(member.decode() for member in members)
            values = await self.redis.mget([session_key(i) for i in ids]) if ids else []
            gone = [i for i, value in zip(ids, values, strict=True) if value is None]
            if gone:
                await cast(Awaitable[int], self.redis.srem(key_sessions(key_id), *gone))
        return [json.loads(value) for value in values if value is not None]

    async def touch_session(self, session_id: str, record: dict[str, Any]) -> bool:
        """Update the record part of the entry (last use, cell count), keeping its expiry."""
        with unreachable_is_503():
            value = await self.redis.get(session_key(session_id))
            if value is None:
                return False
            await self.redis.set(session_key(session_id), json.dumps({**json.loads(value), **record}), keepttl=True)
        return True

    async def unshare_session(self, session_id: str, key_id: str) -> None:
        with unreachable_is_503():
            await self.redis.delete(session_key(session_id))
            await cast(Awaitable[int], self.redis.srem(key_sessions(key_id), session_id))

    async def call(self, worker: str, call: dict[str, Any], on_output: OutputCallback | None = None) -> dict[str, Any]:
        """One call on a worker's own stream (a pinned session's cell or file operation)."""
        job = uuid.uuid4().hex
        with unreachable_is_503():
            if not await worker_alive(self.redis, worker):
                raise WorkerLost(
                    f"the worker holding this session ({worker_name(worker)}) stopped; the session is gone"
                )
            await self.redis.xadd(calls_key(worker_name(worker)), {"call": json.dumps({**call, "job": job})})
        return await self.follow(job, on_output, worker=worker)


class _QueuedLease(Lease):
    """A one-shot run as a job on the stream (see ``DispatchBackend.follow``)."""

    def __init__(self, backend: DispatchBackend) -> None:
        self.backend = backend

    async def run(self, spec: RunSpec, on_output: OutputCallback | None = None) -> RunOutcome:
        job = await self.backend.submit("run", spec)
        end = await self.backend.follow(job, on_output)
        with malformed_is_engine_error("the worker's answer"):
            return wire.outcome_from_wire(end["outcome"])


class RemoteSession(BackendSession):
    """A session whose container is on worker ``worker``; every call goes to that worker."""

    def __init__(self, backend: DispatchBackend, worker: str, session: str, instance: str = "") -> None:
        self.backend = backend
        self.worker = worker
        self.session = session
        self.instance = instance  # the worker process's instance label: what its session records name
        self._ended = False
        self._lock = asyncio.Lock()

    @property
    def ended(self) -> bool:
        return self._ended

    @property
    def holder(self) -> str | None:
        return self.instance or None

    async def alive(self) -> bool:
        """False once the session has ended or its worker's heartbeat has expired."""
        if self._ended:
            return False
        with unreachable_is_503():
            if not await worker_alive(self.backend.redis, self.worker):
                self._ended = True
        return not self._ended

    async def _call(self, call: str, on_output: OutputCallback | None = None, **fields: Any) -> dict[str, Any]:
        if self._ended:
            raise EngineError("the session has ended")
        try:
            end = await self.backend.call(self.worker, {"call": call, "session": self.session, **fields}, on_output)
        except WorkerLost:
            self._ended = True
            raise
        except BaseException as exc:
            if getattr(exc, "ended", False):
                self._ended = True
            raise
        self._ended = bool(end.get("ended", False))
        return end

    @asynccontextmanager
    async def _acquire(self) -> AsyncIterator[Lease]:
        async with self._lock:  # one cell at a time from this replica (the worker serialises all of them)
            yield _CellLease(self)

    def acquire(self) -> AbstractAsyncContextManager[Lease]:
        return self._acquire()

    async def put_file(self, path: str, data: bytes) -> None:
        await self._call("put", path=path, data=wire.b64(data))

    async def get_file(self, path: str) -> bytes:
        end = await self._call("get", path=path)
        with malformed_is_engine_error("the worker's answer"):
            return wire.unb64(end["data"])

    async def list_files(self) -> SessionFiles:
        end = await self._call("list")
        with malformed_is_engine_error("the worker's answer"):
            return wire.files_from_wire(end["files"])

    async def close(self) -> None:
        if self._ended:
            return
        try:
            await self._call("close")
        except (WorkerLost, DispatchUnavailable, EngineError, NotFound) as exc:
            log.info("closing session %s on %s: %s", self.session, self.worker, exc.message)
        self._ended = True


class _CellLease(Lease):
    def __init__(self, session: RemoteSession) -> None:
        self.session = session

    async def run(self, spec: RunSpec, on_output: OutputCallback | None = None) -> RunOutcome:
        job = uuid.uuid4().hex
        end = await self.session._call("cell", on_output, spec=wire.spec_to_wire(spec, job, self.session.backend.keys),
                                       spec_job=job)  # fmt: skip
        with malformed_is_engine_error("the worker's answer"):
            return wire.outcome_from_wire(end["outcome"])


async def ensure_group(client: aioredis.Redis) -> None:
    """The jobs stream and the workers' consumer group, created once (idempotent)."""
    try:
        await client.xgroup_create(JOBS, GROUP, id="0", mkstream=True)
    except RedisError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def _now_ms() -> int:
    return int(time.time() * 1000)


_POOL_FIELDS = frozenset(field.name for field in dataclasses.fields(PoolReport))


def _pool_report(pool: dict[str, Any]) -> PoolReport:
    """A worker's pool as it reported it; a worker of an older release says ``size`` for ``target``."""
    known = {name: value for name, value in pool.items() if name in _POOL_FIELDS}
    known.setdefault("target", pool.get("size", 0))
    return PoolReport(**known)
