"""The janitor: removes the labelled containers nobody will remove otherwise.

Every container carries an expiry label and the label of the server instance
that created it (``hardening.py``, ``sandbox.instance``). A sweep removes:

- ``expired`` containers, whoever created them (the last resort, any host);
- containers of a ``dead`` instance: one that was SIGKILLed, crashed or lost
  its host's boot (known for sure on the same host, see ``Instance.alive``);
- ``orphaned`` containers of this very instance that its engine no longer
  holds: a creation the engine carried out while the answer was lost (an
  engine restart), or a removal that failed while the engine was down.

It sweeps at start-up, every ``interval_s``, and when asked (``sweep_soon``:
the engine answers again after an outage).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable

from sandbox.engine.docker import DockerEngine, ManagedContainer
from sandbox.engine.hardening import LABEL_EXPIRES, LABEL_INSTANCE
from sandbox.errors import SandboxError
from sandbox.instance import Instance

log = logging.getLogger(__name__)
Removed = Callable[[str, int], None]


class Janitor:
    """Periodic removal of leftover sandbox containers (see the module docstring)."""

    def __init__(
        self, engine: DockerEngine, interval_s: float, instance: Instance, on_removed: Removed | None = None
    ) -> None:
        self._engine = engine
        self._interval_s = interval_s
        self._instance = instance
        self._on_removed = on_removed
        self._task: asyncio.Task[None] | None = None
        self._soon = asyncio.Event()

    async def start(self) -> None:
        """Sweep once now, then keep sweeping in the background."""
        await self.sweep()
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="janitor")

    def sweep_soon(self) -> None:
        """Sweep now in the background (the engine is back after an outage, maybe the first time)."""
        self._soon.set()
        if self._task is None:  # the engine did not answer at start-up: nothing has swept yet
            self._task = asyncio.create_task(self._loop(), name="janitor")

    async def sweep(self) -> Counter[str]:
        """Remove every leftover container; returns how many, by reason."""
        now = time.time()
        removed: Counter[str] = Counter()
        for container in await self._engine.managed():
            reason = self._reason(container, now)
            if reason is None:
                continue
            with contextlib.suppress(SandboxError):
                await self._engine.remove(container.id)
                removed[reason] += 1
        for reason, count in removed.items():
            log.info("janitor: removed %d %s container(s)", count, reason)
            if self._on_removed is not None:
                self._on_removed(reason, count)
        return removed

    def _reason(self, container: ManagedContainer, now: float) -> str | None:
        """Why ``container`` should go, or None to leave it."""
        if expiry(container.labels) <= now:
            return "expired"
        creator = Instance.parse(container.labels.get(LABEL_INSTANCE, ""))
        if creator is None:
            return None  # another version's container: its expiry will come
        if creator == self._instance:
            return None if self._engine.owns(container) else "orphaned"
        return "dead" if creator.alive() is False else None

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._soon.wait(), self._interval_s)
            self._soon.clear()
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
