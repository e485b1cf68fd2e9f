"""``sandbox worker``: the Docker host's end of scale-out (see ``dispatch.py`` for the replica's).

A worker owns its host's engine stack, composed by ``build_service`` exactly as a
single-process server's (Docker backend, breaker, metrics, warm pools, janitor),
and serves it to the replicas over Redis:

- it reads a job from the ``sandbox:jobs`` consumer group only when one of its
  ``max_concurrency`` slots is free and its engine's breaker is not open, claims it (``SET owner NX``: a job its
  replica gave up on is skipped), runs it, answers on the job's reply stream, and
  acknowledges (and deletes) the message once the answer is written;
- a session it opens keeps a slot until it closes; its cells and file calls come
  on the worker's own call stream;
- ``sandbox:cancel:<name>`` (pub/sub) kills a running job or cell;
- every ``worker_heartbeat_s`` it refreshes its heartbeat (a key that expires
  after ``worker_dead_after_s``, with a report of its pools and conditions),
  resets the idle time of the messages it is running, and reclaims
  (``XAUTOCLAIM``) messages idle longer than ``worker_dead_after_s``: those of a
  worker that died. A claimed job that never started runs here; one that was
  running ends with ``WorkerLost`` (it is not run twice);
- ``/healthz``, ``/readyz`` and ``/metrics`` on ``worker_host:worker_port``.

SIGTERM drains: no new job is read, running ones get ``shutdown_grace_s``, then
everything is killed and the sessions are closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from sandbox import aftercare, instance
from sandbox.cluster import wire
from sandbox.cluster.dispatch import (
    GROUP,
    JOBS,
    KEEP_S,
    WORKERS,
    calls_key,
    cancel_channel,
    connect,
    ensure_group,
    owner_key,
    raise_if_cancelled,
    reply_key,
    worker_alive,
    worker_key,
    worker_name,
)
from sandbox.config import Settings
from sandbox.engine import BackendSession
from sandbox.errors import EngineError, NotFound, SandboxError, WorkerLost
from sandbox.secrets.keys import LazyKeyProvider
from sandbox.service import ExecutionService

log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Held:
    """A session this worker holds, and the slot it keeps until it closes."""

    session: BackendSession
    lock: asyncio.Lock


class Worker:
    """See the module docstring."""

    def __init__(self, settings: Settings, service: ExecutionService) -> None:
        self.settings = settings
        self.service = service
        self.backend = service.backend
        self.keys = LazyKeyProvider(settings)  # opens the sealed environments replicas send
        self.name = settings.worker_name or f"{socket.gethostname()}-{os.getpid()}"
        #: This process among the ones that bear the name (a restarted worker is another incarnation):
        #: what its jobs' owner, start frames and sessions name, so a replica tells it from its predecessor.
        self.ident = f"{self.name}:{uuid.uuid4().hex[:12]}"
        self.redis: aioredis.Redis = connect(settings)
        self._slots = asyncio.Semaphore(settings.max_concurrency)
        self._running: dict[str, tuple[str | None, asyncio.Task[None]]] = {}  # job -> (message id, task)
        self._sessions: dict[str, _Held] = {}
        self._waiting: set[str] = set()  # reclaimed messages waiting for a slot (not to be reclaimed again)
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()

    # ------------------------------------------------------------- lifecycle
    async def run(self) -> None:
        """Serve until SIGTERM/SIGINT, then drain (see the module docstring)."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stopping.set)
        async with self.service:
            await self._until_redis(ensure_group)
            await self.heartbeat()
            loops = [
                asyncio.create_task(self._take_jobs(), name="worker-jobs"),
                asyncio.create_task(self._take_calls(), name="worker-calls"),
                asyncio.create_task(self._listen_cancels(), name="worker-cancels"),
                asyncio.create_task(self._beat(), name="worker-heartbeat"),
            ]
            log.info("worker %s: taking work (%d slots)", self.name, self.settings.max_concurrency)
            try:
                await self._stopping.wait()
            finally:
                await self._drain(loops)

    def stop(self) -> None:
        self._stopping.set()

    async def _drain(self, loops: list[asyncio.Task[None]]) -> None:
        log.info("worker %s: draining (%d running)", self.name, len(self._running))
        loops[0].cancel()  # no new job; cells of open sessions and cancels still come while running ones end
        running = [task for _, task in self._running.values()]
        if running:
            await asyncio.wait(running, timeout=self.settings.shutdown_grace_s)
        for _, task in list(self._running.values()):
            task.cancel()
        await asyncio.gather(*(task for _, task in self._running.values()), return_exceptions=True)
        for loop in loops:
            loop.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        for session_id in list(self._sessions):
            await self._close_session(session_id)
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(RedisError, OSError):
            await self.redis.delete(worker_key(self.name))
            await self.redis.zrem(WORKERS, self.name)
        await self.redis.aclose()

    async def _until_redis(self, action: Any) -> None:
        """``action(redis)`` once Redis answers (a worker may start before it)."""
        while True:
            try:
                await action(self.redis)
                return
            except (RedisError, OSError) as exc:
                log.warning("worker %s: Redis does not answer (%s); retrying", self.name, exc)
                await asyncio.sleep(1.0)

    # --------------------------------------------------------------- heartbeat
    def report(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "incarnation": self.ident.partition(":")[2],
            "instance": instance.current().label,
            "slots": self.settings.max_concurrency,
            "running": len(self._running),
            "sessions": len(self._sessions),
            "pools": [asdict(pool) for pool in self.backend.pools()],
            "conditions": self.backend.conditions(),
            "at": time.time(),
        }

    async def readiness(self) -> dict[str, object]:
        """The service's readiness (engine, breaker, pools) and whether Redis answers: `/readyz`."""
        report = await self.service.readiness()
        try:
            await self.redis.ping()
            report["redis"] = "ok"
        except (RedisError, OSError) as exc:
            report.update(ready=False, redis=f"unreachable ({type(exc).__name__})")
        report["worker"] = self.name
        return report

    async def heartbeat(self) -> None:
        ttl_ms = int(self.settings.worker_dead_after_s * 1000)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(worker_key(self.name), json.dumps(self.report()), px=ttl_ms)
            pipe.zadd(WORKERS, {self.name: int(time.time() * 1000)})
            messages: list[str | bytes | int | memoryview] = [m for m, _ in self._running.values() if m is not None]
            if messages:  # still ours: their idle time restarts, so no other worker reclaims them
                pipe.xclaim(JOBS, GROUP, self.name, 0, messages, justid=True)
            await pipe.execute()

    async def _beat(self) -> None:
        while True:
            raise_if_cancelled()  # each loop here checks: see ``raise_if_cancelled``
            await asyncio.sleep(self.settings.worker_heartbeat_s)
            try:
                await self.heartbeat()
                await self._reclaim()
            except (RedisError, OSError) as exc:
                log.warning("worker %s: heartbeat failed (%s)", self.name, exc)

    async def _reclaim(self) -> None:
        """Messages idle past ``worker_dead_after_s``: their worker died (see the module docstring)."""
        idle_ms = int(self.settings.worker_dead_after_s * 1000)
        _, claimed, _ = await self.redis.xautoclaim(JOBS, GROUP, self.name, idle_ms, "0-0", count=50)
        for message, values in claimed:
            payload = _entry(values, b"job")
            if payload is None:  # never a job: dropped, as ``_take_jobs`` drops it
                log.warning("worker %s: dropped malformed job message %s", self.name, message.decode())
                await self._done(message.decode())
                continue
            job = payload["job"]
            owner = await self.redis.get(owner_key(job))
            if owner is None:  # its worker died before it started: it runs here, once
                if message.decode() not in self._waiting:  # still waiting here for a slot: already ours
                    self._waiting.add(message.decode())
                    self._later(self._start(message.decode(), payload))
                continue
            ident = owner.decode()
            if ident == self.ident:
                continue
            if ident not in ("abandoned", "cancelled") and not await worker_alive(self.redis, ident):
                lost = WorkerLost(
                    f"the worker running it ({worker_name(ident)}) stopped; the program was not run again, "
                    "and its output so far is kept"
                )
                await self._frame(job, {"t": "error", **wire.error_to_wire(lost)})
                log.warning("worker %s: job %s of the lost worker %s ended", self.name, job, ident)
            elif ident not in ("abandoned", "cancelled"):
                continue  # a live worker's long run that missed a heartbeat: not ours to end
            await self._done(message.decode())

    # -------------------------------------------------------------------- jobs
    async def _take_jobs(self) -> None:
        while True:
            raise_if_cancelled()
            if self.backend.conditions().get("breaker") == "open":  # its engine is failing: others take the work
                await asyncio.sleep(0.2)
                continue
            await self._slots.acquire()
            try:
                answer = await self.redis.xreadgroup(GROUP, self.name, {JOBS: ">"}, count=1, block=1000)
                raise_if_cancelled()  # a message read now stays pending: another worker reclaims it
            except asyncio.CancelledError:
                self._slots.release()
                raise
            except (RedisError, OSError) as exc:
                self._slots.release()
                log.warning("worker %s: reading jobs failed (%s)", self.name, exc)
                await asyncio.sleep(1.0)
                if "NOGROUP" in str(exc):
                    with contextlib.suppress(RedisError, OSError):
                        await ensure_group(self.redis)
                continue
            if not answer:
                self._slots.release()
                continue
            for _, entries in answer:
                for message, values in entries:
                    payload = _entry(values, b"job")
                    if payload is None:  # anyone with Redis access can XADD: junk must not stop this loop
                        log.warning("worker %s: dropped malformed job message %s", self.name, message.decode())
                        self._slots.release()
                        await self._done(message.decode())
                        continue
                    self._begin(message.decode(), payload)

    async def _start(self, message: str, payload: dict[str, Any]) -> None:
        """A reclaimed job that never started: it waits for a slot like a new one."""
        try:
            await self._slots.acquire()
        finally:
            self._waiting.discard(message)
        self._begin(message, payload)

    def _begin(self, message: str, payload: dict[str, Any]) -> None:
        """Run one job (a slot is held) as a task of its own."""
        job = payload["job"]
        task = asyncio.create_task(self._job(message, job, payload), name=f"job-{job}")
        self._running[job] = (message, task)

    async def _job(self, message: str, job: str, payload: dict[str, Any]) -> None:
        keep_slot = False
        settle = True  # acknowledge and delete the message at the end
        try:
            if not await self.redis.set(owner_key(job), self.ident, nx=True, ex=KEEP_S):
                # Abandoned or cancelled by its replica: settled here. Taken by another worker (two reclaimed
                # it at once): its message stays pending for that worker, so its death is still noticed.
                owner = (await self.redis.get(owner_key(job)) or b"").decode()
                settle = owner in ("abandoned", "cancelled", "")
                return
            await self._frame(job, {"t": "start", "worker": self.ident})
            spec = wire.spec_from_wire(payload["spec"], job, self.keys)
            if payload["kind"] == "open":
                session = await self.backend.open_session(spec, float(payload["lifetime_s"]))
                self._sessions[job] = _Held(session, asyncio.Lock())
                keep_slot = True
                end = {"worker": self.ident, "session": job, "instance": instance.current().label}
                await self._frame(job, {"t": "end", **end})
            else:
                with aftercare.answer_window():  # the container's removal and refill wait for the end frame
                    outcome = await self.backend.run(spec, self._publisher(job))
                    await self._frame(job, {"t": "end", "outcome": wire.outcome_to_wire(outcome)})
        except asyncio.CancelledError:
            with contextlib.suppress(RedisError, OSError):
                await self._frame(job, {"t": "cancelled"})
            raise
        except SandboxError as exc:
            await self._answer_error(job, exc)
        except Exception:
            log.exception("worker %s: job %s failed", self.name, job)
            await self._answer_error(job, EngineError("the worker failed to run it (see the worker's log)"))
        finally:
            if self._running.get(job, (None, None))[1] is asyncio.current_task():  # not a duplicate's entry
                del self._running[job]
            if not keep_slot:
                self._slots.release()
            if settle:
                await asyncio.shield(self._done(message))

    async def _done(self, message: str) -> None:
        with contextlib.suppress(RedisError, OSError):
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.xack(JOBS, GROUP, message)
                pipe.xdel(JOBS, message)
                await pipe.execute()

    # ------------------------------------------------------------------- calls
    async def _take_calls(self) -> None:
        """This worker's own stream: calls on the sessions it holds."""
        after = "$"
        while True:
            raise_if_cancelled()
            try:
                answer = await self.redis.xread({calls_key(self.name): after}, count=64, block=1000)
            except (RedisError, OSError) as exc:
                log.warning("worker %s: reading calls failed (%s)", self.name, exc)
                await asyncio.sleep(1.0)
                continue
            for _, entries in answer or []:
                for entry, values in entries:
                    after = entry.decode()
                    call = _entry(values, b"call")
                    if call is None:
                        log.warning("worker %s: dropped malformed call %s", self.name, after)
                        continue
                    job = call["job"]
                    task = asyncio.create_task(self._call(job, call), name=f"call-{job}")
                    self._running[job] = (None, task)
            if answer:
                with contextlib.suppress(RedisError, OSError):
                    await self.redis.xtrim(calls_key(self.name), minid=after)

    async def _call(self, job: str, call: dict[str, Any]) -> None:
        session_id = str(call.get("session"))
        held = self._sessions.get(session_id)
        try:
            await self._frame(job, {"t": "start", "worker": self.ident})
            if held is None:
                raise NotFound(f"session {session_id} is not open on worker {self.name}")
            kind = call["call"]
            end: dict[str, Any] = {}
            if kind == "cell":
                spec = wire.spec_from_wire(call["spec"], str(call["spec_job"]), self.keys)
                async with held.lock, held.session.acquire() as lease:
                    end["outcome"] = wire.outcome_to_wire(await lease.run(spec, self._publisher(job)))
            elif kind == "put":
                await held.session.put_file(str(call["path"]), wire.unb64(call["data"]))
            elif kind == "get":
                end["data"] = wire.b64(await held.session.get_file(str(call["path"])))
            elif kind == "list":
                end["files"] = wire.files_to_wire(await held.session.list_files())
            elif kind == "close":
                await self._close_session(session_id)
            end["ended"] = held.session.ended
            await self._frame(job, {"t": "end", **end})
        except asyncio.CancelledError:
            with contextlib.suppress(RedisError, OSError):
                await self._frame(job, {"t": "cancelled"})
            raise
        except SandboxError as exc:
            await self._answer_error(job, exc, ended=held is None or held.session.ended)
        except Exception:
            log.exception("worker %s: call %s failed", self.name, job)
            await self._answer_error(job, EngineError("the worker failed to serve the call (see its log)"))
        finally:
            self._running.pop(job, None)
            if held is not None and held.session.ended:
                await self._close_session(session_id)

    async def _close_session(self, session_id: str) -> None:
        held = self._sessions.pop(session_id, None)
        if held is None:
            return
        try:
            await held.session.close()
        except SandboxError as exc:
            log.warning("worker %s: closing session %s: %s", self.name, session_id, exc.message)
        finally:
            self._slots.release()

    # ----------------------------------------------------------------- cancels
    async def _listen_cancels(self) -> None:
        while True:
            try:
                async with self.redis.pubsub() as pubsub:
                    await pubsub.subscribe(cancel_channel(self.name))
                    while True:  # polled: an idle subscription must not trip the client's socket timeout
                        raise_if_cancelled()
                        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                        if message is None or message.get("type") != "message":
                            continue
                        job = message["data"].decode()
                        running = self._running.get(job)
                        if running is not None:
                            log.info("worker %s: cancelling %s", self.name, job)
                            running[1].cancel()
            except (RedisError, OSError) as exc:
                log.warning("worker %s: cancel channel failed (%s)", self.name, exc)
                await asyncio.sleep(1.0)

    # ----------------------------------------------------------------- answers
    def _publisher(self, job: str) -> Any:
        async def publish(kind: str, chunk: bytes) -> None:
            await self._frame(job, {"t": "out", "k": kind, "d": wire.b64(chunk)})

        return publish

    async def _frame(self, job: str, frame: dict[str, Any]) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.xadd(reply_key(job), {"f": json.dumps(frame)})
            pipe.expire(reply_key(job), KEEP_S)
            await pipe.execute()
        raise_if_cancelled()  # a run cancelled while it published: it must still end

    async def _answer_error(self, job: str, exc: SandboxError, *, ended: bool = False) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self._frame(job, {"t": "error", "ended": ended, **wire.error_to_wire(exc)})

    def _later(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _entry(values: dict[bytes, bytes], field: bytes) -> dict[str, Any] | None:
    """A job or call message's JSON object, None unless it is one with a string ``job`` id.

    What is inside is checked where it is used (a bad spec fails that job with an error frame);
    this only keeps junk from reaching the loops that must never stop.
    """
    try:
        data = json.loads(values[field])
    except (KeyError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("job"), str):
        return None
    return data
