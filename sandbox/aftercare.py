"""Work that waits until the caller has its answer: a run's container removal, the pool's refill.

On two cores, tearing down a run's container (a DELETE that keeps dockerd,
containerd and runc busy for ~100 ms) and creating its replacement compete with
sending the answer they follow. So a door holds an *answer window* around each
request (``answer_window``; the REST app's ``AnswerWindowMiddleware``), and
cleanup scheduled inside it with ``after_answer`` runs once the door has sent
the answer (``AnswerWindow.close``). Nothing is lost by waiting:

- a window closes when its answer is out, when its request ends in any other
  way (an error, a client gone), and at the latest ``MAX_WAIT_S`` after the first
  callback was deferred (a streamed answer, a client reading slowly: cleanup never
  waits long on a client);
- outside a window (a background run answered 202 long ago, a session's end, the
  CLI, MCP over stdio), or once the window is closed, a callback runs after
  ``FALLBACK_S``: the same short delay as before windows existed;
- callbacks are plain functions that start work (spawn a removal, wake a refill
  loop); the engine keeps its own record of deferred removals, so its ``aclose``
  starts them at once on shutdown, whatever their window is doing.

``busy()`` says whether answers are being sent right now (a window is open with
work deferred behind it): background work of lower priority (the batched record
writes) waits for a quiet moment, bounded, before it takes the CPU.

A window is found through a context variable, so the execution task a request
starts (``asyncio.create_task`` copies the context) defers into its request's
window, and a task started by another request never reaches this one's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import Callable, Iterator
from contextvars import ContextVar

log = logging.getLogger(__name__)

#: The longest a deferred callback waits for its window to close.
MAX_WAIT_S = 1.0
#: Outside a window, a callback runs this much later: the answer (a few ms) goes out first.
FALLBACK_S = 0.02

_window: ContextVar[AnswerWindow | None] = ContextVar("sandbox_answer_window", default=None)
#: How often ``quiet`` looks again (an event would tie it to one event loop).
QUIET_POLL_S = 0.005

#: Windows open with callbacks deferred behind them (``busy``); weak: a window of a loop that
#: was closed under it is forgotten with its timer.
_waiting: weakref.WeakSet[AnswerWindow] = weakref.WeakSet()


class AnswerWindow:
    """One request's answer: callbacks deferred until it is sent (see the module docstring)."""

    def __init__(self, max_wait_s: float = MAX_WAIT_S) -> None:
        self.max_wait_s = max_wait_s
        self.closed = False
        self._callbacks: list[Callable[[], object]] = []
        self._timer: asyncio.TimerHandle | None = None

    def defer(self, callback: Callable[[], object]) -> None:
        """Run ``callback`` when this window closes (at once, soon, if it is closed already)."""
        if self.closed:
            _later(callback)
            return
        if not self._callbacks:
            self._timer = asyncio.get_running_loop().call_later(self.max_wait_s, self.close)
            _waiting.add(self)
        self._callbacks.append(callback)

    def close(self) -> None:
        """The answer is out (or will never be): run what waited for it. Idempotent."""
        if self.closed:
            return
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        callbacks, self._callbacks = self._callbacks, []
        _waiting.discard(self)
        for callback in callbacks:
            _run(callback)


@contextlib.contextmanager
def answer_window(max_wait_s: float = MAX_WAIT_S) -> Iterator[AnswerWindow]:
    """Open a window for the code inside (a door's request); it closes when the block ends, if not before."""
    window = AnswerWindow(max_wait_s)
    token = _window.set(window)
    try:
        yield window
    finally:
        _window.reset(token)
        window.close()


def after_answer(callback: Callable[[], object]) -> None:
    """Run ``callback`` once the current request's answer is sent (see the module docstring)."""
    window = _window.get()
    if window is None:
        _later(callback)
    else:
        window.defer(callback)


def busy() -> bool:
    """Whether some answer is being sent with work deferred behind it."""
    return bool(_waiting)


async def quiet(max_wait_s: float) -> None:
    """Wait until no answer is being sent (``busy`` is False), at most ``max_wait_s``."""
    deadline = time.monotonic() + max_wait_s
    while _waiting and time.monotonic() < deadline:
        await asyncio.sleep(QUIET_POLL_S)


def _later(callback: Callable[[], object]) -> None:
    asyncio.get_running_loop().call_later(FALLBACK_S, _run, callback)


def _run(callback: Callable[[], object]) -> None:
    try:
        callback()
    except Exception:  # one failing callback must not keep the others from running
        log.exception("a callback deferred until after an answer failed")
