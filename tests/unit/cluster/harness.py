"""Shared pieces of the scale-out tests: settings, a spec, a worker on a ``FakeBackend`` in this process.

The worker is the real ``Worker`` over a real Redis; only its engine is the fake one, so
these tests need no Docker. A worker that must die like a SIGKILLed one runs in a
subprocess instead (``worker_proc.py``).
"""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from sandbox.cluster.dispatch import DispatchBackend, reply_key, worker_key
from sandbox.cluster.worker import Worker
from sandbox.config import PROJECT_ROOT, Settings
from sandbox.engine import FakeBackend, ImageCatalog, RunOutcome, RunSpec
from sandbox.engine.fake import Handler
from sandbox.engine.spec import RunFile
from sandbox.models import EffectiveLimits, Status
from sandbox.service import ExecutionService
from sandbox.validation import PolicySet

REPO = Path(__file__).resolve().parents[3]
CATALOG = ImageCatalog(PROJECT_ROOT / "images")
#: One KEK for replicas and workers (they share it, as in production).
KEK = "t1:" + base64.b64encode(b"k" * 32).decode()
LIMITS = EffectiveLimits(
    wall_time_s=60,
    cpu_time_s=5,
    memory_mb=256,
    processes=64,
    workdir_mb=64,
    stdout_bytes=99,
    stderr_bytes=99,
    compile_wall_time_s=30,
    compile_cpu_time_s=20,
    compile_memory_mb=512,
)


def settings(redis_url: str, **extra: Any) -> Settings:
    """Fast heartbeats and short waits, so deaths and timeouts show within a second or two."""
    values: dict[str, Any] = {
        "redis_url": redis_url,
        "secrets_kek": KEK,
        "worker_heartbeat_s": 0.1,
        "worker_dead_after_s": 0.6,
        "queue_timeout_s": 5.0,
        "redis_timeout_s": 0.5,
        "kill_grace_s": 0.5,
        "shutdown_grace_s": 0.5,
        "max_concurrency": 4,
        "pool_size": 0,
        "validation_workers": 0,
    }
    return Settings(**{**values, **extra})


def spec(code: bytes = b"print(1)", mode: str = "python", **extra: Any) -> RunSpec:
    values: dict[str, Any] = {"argv": ("python3", "main.py"), "files": (RunFile("main.py", code),), **extra}
    return RunSpec(image="img", mode=mode, limits=LIMITS, **values)


def ok(stdout: bytes = b"", stderr: bytes = b"") -> RunOutcome:
    return RunOutcome(status=Status.OK, exit_code=0, stdout=stdout, stderr=stderr, wall_ms=3)


def make_worker(config: Settings, handler: Handler, backend: FakeBackend | None = None) -> tuple[Worker, FakeBackend]:
    fake = backend or FakeBackend(handler)
    policies = PolicySet(config.policies_dir, config.default_policy)
    return Worker(config, ExecutionService(config, fake, CATALOG, policies)), fake


async def wait_for(check: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> None:
    """Poll ``check`` (sync or async) until true."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@asynccontextmanager
async def running(worker: Worker) -> AsyncIterator[Worker]:
    """``worker.run()`` as a task, once its heartbeat is in Redis; drained on exit."""
    task = asyncio.create_task(worker.run())
    client = aioredis.Redis.from_url(worker.settings.redis_url or "")
    try:
        await wait_for(lambda: task.done() or client.exists(worker_key(worker.name)), what="the worker's heartbeat")
        if task.done():
            task.result()
        yield worker
    finally:
        await client.aclose()
        worker.stop()
        done, _ = await asyncio.wait([task], timeout=10)
        if not done:  # say where it hangs: a drain that never ends is the bug this catches
            stuck = [str(t.get_stack(limit=3)) for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            raise AssertionError("the worker's drain hung: " + "\n".join(stuck))
        task.result()


@asynccontextmanager
async def replica(config: Settings) -> AsyncIterator[DispatchBackend]:
    backend = DispatchBackend(config)
    await backend.start()
    try:
        yield backend
    finally:
        await backend.aclose()


class WorkerProcess:
    """A worker in a subprocess (``worker_proc.py``) on a FakeBackend whose runs sleep: SIGKILL-able."""

    def __init__(self, redis_url: str, name: str, *, dead_after_s: float = 0.6) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        args = [sys.executable, "-m", "tests.unit.cluster.worker_proc", redis_url, name, KEK, str(dead_after_s)]
        self.name = name
        self.process = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    async def ready(self, client: aioredis.Redis) -> None:
        await wait_for(lambda: self.process.poll() is not None or client.exists(worker_key(self.name)), 30,
                       "the worker process's heartbeat")  # fmt: skip
        if self.process.poll() is not None:
            raise AssertionError(f"worker process failed: {self.process.stderr.read()!r}")  # type: ignore[union-attr]

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)

    def close(self) -> None:
        if self.process.poll() is None:
            self.kill()
        if self.process.stderr is not None:
            self.process.stderr.close()


async def frames(client: aioredis.Redis, job: str) -> list[dict[str, Any]]:
    """Every frame on a job's reply stream so far."""
    import json

    return [json.loads(values[b"f"]) for _, values in await client.xrange(reply_key(job))]
