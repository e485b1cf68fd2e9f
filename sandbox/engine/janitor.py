"""The janitor: removes labelled containers whose expiry has passed, whoever created them.

Every container carries an ``io.sandbox.expires`` label (``hardening.py``). A
process that dies without cleaning up (SIGKILL, power loss) leaves its
containers behind; the next janitor of any process removes them once they
expire. It sweeps at start-up and then every ``interval_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from sandbox.engine.docker import DockerEngine
from sandbox.engine.hardening import LABEL_EXPIRES
from sandbox.errors import SandboxError

log = logging.getLogger(__name__)


class Janitor:
    """Periodic removal of expired sandbox containers."""

    def __init__(self, engine: DockerEngine, interval_s: float) -> None:
        self._engine = engine
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Sweep once now, then keep sweeping in the background."""
        await self.sweep()
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="janitor")

    async def sweep(self) -> int:
        """Remove every labelled container whose expiry has passed; returns how many."""
        now = time.time()
        expired = [c.id for c in await self._engine.managed() if expiry(c.labels) <= now]
        for container_id in expired:
            with contextlib.suppress(SandboxError):
                await self._engine.remove(container_id)
        if expired:
            log.info("janitor: removed %d expired container(s)", len(expired))
        return len(expired)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self.sweep()
            except SandboxError as exc:
                log.warning("janitor: %s", exc.message)


def expiry(labels: dict[str, str]) -> float:
    """The container's expiry (epoch seconds); a missing or garbled label counts as expired."""
    try:
        return float(labels.get(LABEL_EXPIRES, "0"))
    except ValueError:
        return 0.0
