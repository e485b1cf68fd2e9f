"""Graceful shutdown of a server process: the first SIGTERM/SIGINT drains, a second one hurries.

uvicorn catches both signals: it stops listening, waits for the requests under
way, then runs the app's lifespan shutdown. Executions are not requests (a run
started with ``wait=false`` has none), so the lifespan chains its own handler in
front of uvicorn's: on the first signal the managers stop admitting (503) and
running executions get ``shutdown_grace_s`` to finish; the rest are killed and
recorded as ``killed`` with "server shutting down". The same signal again, a
second or more later, ends the grace at once; it is not passed on, because uvicorn would take a second SIGINT as
"force exit" and skip the lifespan shutdown that removes every container.

Handlers can only be installed in the main thread; elsewhere (a server run in a
thread by the tests) the drain runs at lifespan shutdown instead.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from collections.abc import Callable, Coroutine
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)
SIGNALS = (signal.SIGTERM, signal.SIGINT)
#: A repeat of the first signal hurries the shutdown only this long after it: sooner, it is the same stop
#: delivered twice (to the process group and by uvicorn's supervisor), not an impatient operator.
REPEAT_AFTER_S = 1.0
Drain = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


class GracefulShutdown:
    """``install()`` in the lifespan startup, ``await finish()`` in its shutdown."""

    def __init__(self, drain: Drain) -> None:
        self._drain = drain
        self._hurry = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous: dict[int, Any] = {}
        self._first: tuple[int, float] | None = None  # the first signal and when it came

    def install(self) -> None:
        """Chain our handler in front of the current ones (uvicorn's), in the main thread only."""
        self._loop = asyncio.get_running_loop()
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in SIGNALS:
            self._previous[sig] = signal.signal(sig, self._on_signal)

    async def finish(self) -> None:
        """Drain (if no signal started it) and wait for it; restore the handlers."""
        if self._task is None:
            self._task = asyncio.create_task(self._drain(self._hurry), name="drain")
        try:
            await self._task
        finally:
            for sig, handler in self._previous.items():
                signal.signal(sig, handler)
            self._previous.clear()

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        assert self._loop is not None
        now = time.monotonic()
        if self._first is None:  # set here, not in the loop: two signals before it turns are two signals
            self._first = (sig, now)
            log.info("%s: shutting down gracefully (the same signal again kills running executions)", _name(sig))
            self._loop.call_soon_threadsafe(self._start)
            previous = self._previous.get(sig)
            if callable(previous):
                previous(sig, frame)  # uvicorn: stop listening, wait for requests, then the lifespan shutdown
        elif sig == self._first[0] and now - self._first[1] >= REPEAT_AFTER_S:
            log.info("%s again: killing running executions now", _name(sig))
            self._loop.call_soon_threadsafe(self._hurry.set)
        # else: another kind, or the same one at once: one stop said twice (a terminal's Ctrl-C reaches
        # every worker and uvicorn's supervisor then sends SIGTERM; systemd signals the whole group)

    def _start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._drain(self._hurry), name="drain")


def _name(sig: int) -> str:
    return signal.Signals(sig).name
