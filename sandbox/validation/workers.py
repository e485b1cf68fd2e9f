"""Validation in a few long-lived worker processes: bounded, memory-capped, killable.

The validator parses attacker-chosen source. In-process, a pathological input
that slips past the size caps could hold a thread forever (threads cannot be
killed) or exhaust the service's memory. Here each request goes to an idle
worker process with an address-space limit; a worker that overruns the timeout
is SIGKILLed and replaced, and a worker that dies answers for itself: either way
the verdict is a denial (fail closed), cached for ``TIMED_OUT_TTL_S`` so the same
program sent again costs nothing. At most ``size`` validations run at once; more
wait for a worker, so a flood of bad sources cannot grow anything.

Fair to keys: an idle worker goes to the key waiting longest since it was last
served (round robin), and one key holds at most ``per_key`` workers (half of
them by default). A key flooding expensive programs waits behind itself; another
key's ``print(1)`` gets the worker it leaves free.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import multiprocessing
import os
import resource
from collections import Counter, OrderedDict, deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path

from sandbox.models import Finding
from sandbox.validation.bandit import warm_up
from sandbox.validation.pipeline import MAX_FINDINGS, SourceFile, Validator, Verdict, VerdictCache, validate_files
from sandbox.validation.policy import Policy, PolicySet

log = logging.getLogger(__name__)
_CONTEXT = multiprocessing.get_context("spawn")  # no fork of a threaded service process
#: How long a validation that timed out (or killed its worker) stays cached as a denial: the same program
#: again is refused at once; after this, it is tried again (the machine may just have been overloaded).
TIMED_OUT_TTL_S = 600.0


def _worker_main(
    conn: Connection, policies_dir: str, default_policy: str, memory_bytes: int, max_findings: int
) -> None:
    """Worker loop: (files, language, policy name, version) in, Verdict out, until EOF."""
    if memory_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    policies = PolicySet(Path(policies_dir), default_policy)
    for policy in policies.policies.values():
        warm_up(policy.bandit)
    # What start-up loaded lives as long as the worker: collections skip it. Automatic collection is off
    # (it rescans every live node of a large tree again and again, super-linear); after each answer one
    # collection frees the tree's reference cycles (bandit's parent links).
    gc.freeze()
    gc.disable()
    conn.send("ready")
    while True:
        try:
            files, language, name, version = conn.recv()
        except (EOFError, ConnectionResetError):  # the parent is gone (reset: it left an answer unread)
            return
        policy = policies.get(name)
        if policy.version != version:
            verdict = _denial(policy, "validator.policy_mismatch", f"worker has {name} v{policy.version}")
        else:
            try:
                verdict = validate_files(files, language, policy, max_findings)
            except MemoryError:
                verdict = _denial(policy, "validator.memory", "validation ran out of memory")
        conn.send(verdict)
        del verdict
        gc.collect()


def _denial(policy: Policy, rule_id: str, message: str, cpu_s: float = 0.0) -> Verdict:
    finding = Finding(rule_id=rule_id, message=message, source="policy")
    return Verdict(False, (finding,), policy.name, policy.version, cpu_s=cpu_s)


class _Worker:
    def __init__(self, process: BaseProcess, conn: Connection) -> None:
        self.process = process
        self.conn = conn

    def kill(self) -> None:
        with contextlib.suppress(Exception):
            self.process.kill()
        with contextlib.suppress(Exception):
            self.conn.close()
        self.process.join(timeout=5)


class _Dispatcher:
    """Hands idle workers to waiting validations: round robin over keys, at most ``per_key`` held by one key.

    The key ``None`` (the local operator, no API key) has no cap.
    """

    def __init__(self, per_key: int) -> None:
        self.per_key = per_key
        self._idle: deque[_Worker] = deque()
        self._waiting: OrderedDict[str | None, deque[asyncio.Future[_Worker]]] = OrderedDict()
        self._held: Counter[str | None] = Counter()

    async def take(self, key: str | None) -> _Worker:
        future: asyncio.Future[_Worker] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, deque()).append(future)
        self._dispatch()
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():  # handed a worker as it was cancelled: give it back
                self.give_back(future.result(), key)
            else:
                queue = self._waiting.get(key)
                if queue is not None and future in queue:
                    queue.remove(future)
                    if not queue:
                        del self._waiting[key]
            raise

    def give_back(self, worker: _Worker | None, key: str | None) -> None:
        """``key``'s validation is over; ``worker`` is idle again (None: it is being replaced)."""
        self._held[key] -= 1
        if self._held[key] <= 0:
            del self._held[key]
        if worker is not None:
            self.add(worker)
        else:
            self._dispatch()

    def add(self, worker: _Worker) -> None:
        self._idle.append(worker)
        self._dispatch()

    def _dispatch(self) -> None:
        while self._idle and self._waiting:
            for key in self._waiting:  # the key served longest ago first (each serve moves it to the back)
                if key is None or self._held[key] < self.per_key:
                    break
            else:
                return  # everyone waiting already holds their share
            queue = self._waiting.pop(key)
            future = queue.popleft()
            if queue:
                self._waiting[key] = queue
            if future.done():
                continue
            self._held[key] += 1
            future.set_result(self._idle.popleft())


class ValidationWorkers:
    """Runs the pipeline in ``size`` worker processes; see the module docstring."""

    def __init__(
        self,
        policies_dir: Path,
        default_policy: str,
        *,
        size: int = 2,
        timeout_s: float = 5.0,
        memory_bytes: int = 1 << 30,
        cache: VerdictCache | None = None,
        per_key: int | None = None,
        max_findings: int = MAX_FINDINGS,
    ) -> None:
        self._args = (str(policies_dir), default_policy, memory_bytes, max_findings)
        self.size = size
        self.timeout_s = timeout_s
        self.cache = cache or VerdictCache()
        self._dispatcher = _Dispatcher(per_key or max(1, size // 2))
        self._all: set[_Worker] = set()
        self._closed = False

    async def start(self) -> None:
        """Start every worker and wait until each has loaded the policies and bandit."""
        workers = await asyncio.gather(*(self._spawn() for _ in range(self.size)))
        for worker in workers:
            self._dispatcher.add(worker)

    async def aclose(self) -> None:
        self._closed = True
        for worker in list(self._all):
            await asyncio.to_thread(worker.kill)
        self._all.clear()

    async def validate(
        self, files: Sequence[SourceFile], language: str, policy: Policy, key: str | None = None
    ) -> Verdict:
        """The verdict for ``files``, validated for the API key ``key`` (fairness: see the module docstring)."""
        cache_key = self.cache.key(files, language, policy)
        cached = self.cache.get(cache_key)
        if cached is not None:
            return cached
        worker = await self._dispatcher.take(key)
        verdict: Verdict | None = None
        try:
            verdict = await self._ask(worker, (list(files), language, policy.name, policy.version), policy)
        finally:
            if verdict is not None:
                self._dispatcher.give_back(worker, key)
            else:
                self._dispatcher.give_back(None, key)
                self._replace(worker)
        if verdict is None:
            message = f"the validator gave no verdict within {self.timeout_s:g} s"
            denial = _denial(policy, "validator.failed", message, cpu_s=self.timeout_s)
            self.cache.put(cache_key, denial, ttl_s=TIMED_OUT_TTL_S)
            return denial
        self.cache.put(cache_key, verdict)
        return verdict

    # ------------------------------------------------------------------ private
    async def _ask(self, worker: _Worker, message: tuple[object, ...], policy: Policy) -> Verdict | None:
        """The worker's answer; None when it timed out or died (it is then replaced)."""
        loop = asyncio.get_running_loop()
        answered: asyncio.Future[None] = loop.create_future()
        fd = worker.conn.fileno()

        def wake() -> None:
            if not answered.done():
                answered.set_result(None)

        try:
            # Blocking, as the pipe's own calls expect: a loop that polls a descriptor may have made it
            # non-blocking (uvloop's libuv does), and a message over the pipe's buffer would then fail.
            os.set_blocking(fd, True)
            worker.conn.send(message)
            loop.add_reader(fd, wake)
            try:
                await asyncio.wait_for(answered, self.timeout_s)
            finally:
                loop.remove_reader(fd)
            os.set_blocking(fd, True)
            verdict: Verdict = worker.conn.recv()  # a worker sends nothing but verdicts
            return verdict
        except TimeoutError:
            log.warning("validation worker %s timed out; replacing it", worker.process.pid)
            return None
        except (EOFError, OSError) as exc:
            log.warning("validation worker %s died (%s); replacing it", worker.process.pid, exc)
            return None

    def _replace(self, worker: _Worker) -> None:
        worker.kill()
        self._all.discard(worker)
        if not self._closed:
            task = asyncio.create_task(self._spawn())
            task.add_done_callback(self._spawned)

    def _spawned(self, task: asyncio.Task[_Worker]) -> None:
        if task.exception() is None:
            self._dispatcher.add(task.result())

    async def _spawn(self) -> _Worker:
        parent, child = _CONTEXT.Pipe()
        process = _CONTEXT.Process(target=_worker_main, args=(child, *self._args), daemon=True, name="validator")
        await asyncio.to_thread(process.start)
        child.close()
        ready = await asyncio.to_thread(parent.poll, 60)
        if not ready or parent.recv() != "ready":
            process.kill()
            raise RuntimeError("a validation worker did not start")
        worker = _Worker(process, parent)
        self._all.add(worker)
        return worker


class InlineValidation:
    """The same interface as ``ValidationWorkers``, validating in this process (the CLI, tests).

    A bounded thread pool: a flood of pathological sources queues, never grows
    threads. A validation that overruns ``timeout_s`` is a denial (its thread
    cannot be killed; it finishes in the background).
    """

    def __init__(self, validator: Validator, policies: PolicySet, timeout_s: float) -> None:
        self.validator = validator
        self._policies = policies
        self._timeout_s = timeout_s
        self._threads = ThreadPoolExecutor(max_workers=2, thread_name_prefix="validate")

    async def start(self) -> None:
        """Load bandit now rather than on the first request."""
        await asyncio.to_thread(warm_up, self._policies.get(None).bandit)

    async def aclose(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)

    async def validate(
        self, files: Sequence[SourceFile], language: str, policy: Policy, key: str | None = None
    ) -> Verdict:
        """As ``ValidationWorkers.validate``, without the per-key fairness (``key`` is not used)."""
        cache_key = self.validator.cache.key(files, language, policy)
        cached = self.validator.cache.get(cache_key)
        if cached is not None:  # answered here: no thread hop for code seen before
            return cached
        loop = asyncio.get_running_loop()
        job = loop.run_in_executor(self._threads, self.validator.validate, list(files), language, policy)
        try:
            return await asyncio.wait_for(job, timeout=self._timeout_s)
        except TimeoutError:
            message = f"validation took longer than {self._timeout_s:g} s"
            denial = _denial(policy, "validator.timeout", message, cpu_s=self._timeout_s)
            # Until the thread finishes and caches the real verdict (it cannot be stopped).
            self.validator.cache.put(cache_key, denial, ttl_s=TIMED_OUT_TTL_S)
            return denial
