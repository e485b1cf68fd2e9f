"""A circuit breaker: after repeated failures of a dependency, refuse at once instead of waiting on it.

States (``BreakerState``): *closed* lets every call through and counts failures
in a row; ``failures`` of them *open* it. Open refuses every call with
``CircuitOpen`` (a capacity refusal with ``retry_after_s``) for ``open_s``
seconds, then turns *half-open*: up to ``probes`` calls go through at once and
the others are refused; the first probe that succeeds closes the breaker, one
that fails opens it again for another ``open_s``. Only a probe closes it: a
call admitted before the breaker opened that succeeds late (a run that still
had its container when the engine went away) says nothing about the dependency
now.

Which exceptions count as the dependency failing is the caller's choice
(``counts``): a refused or cancelled call says nothing about the dependency
and counts for nothing. The breaker knows nothing about Docker; it is
single-threaded (one event loop) and needs no lock.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import math
import time
from collections.abc import Callable, Iterator

from sandbox.errors import CircuitOpen

log = logging.getLogger(__name__)


class BreakerState(enum.Enum):
    """Where the breaker is; ``CircuitBreaker.state`` moves open -> half-open by itself when ``open_s`` passed."""

    CLOSED = "closed"  # calls go through; failures in a row are counted
    OPEN = "open"  # calls are refused at once until open_s has passed
    HALF_OPEN = "half_open"  # a few probe calls go through; the first success closes, a failure reopens


Listener = Callable[[BreakerState, BreakerState], None]


class CircuitBreaker:
    """See the module docstring. ``with breaker.guard(counts=(SomeError,)): ...`` around each call."""

    def __init__(
        self,
        name: str,
        *,
        failures: int,
        open_s: float,
        probes: int = 1,
        clock: Callable[[], float] = time.monotonic,
        on_change: Listener | None = None,
    ) -> None:
        self.name = name
        self.failures = failures
        self.open_s = open_s
        self.probes = probes
        self._clock = clock
        self._listeners: list[Listener] = [on_change] if on_change else []
        self._state = BreakerState.CLOSED
        self._failed = 0  # failures in a row while closed
        self._opened_at = 0.0
        self._probing = 0  # probe calls under way while half-open
        self.last_error = ""

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener(old, new)`` on every transition."""
        self._listeners.append(listener)

    @property
    def state(self) -> BreakerState:
        if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self.open_s:
            self._move(BreakerState.HALF_OPEN)
        return self._state

    def retry_after_s(self) -> int:
        """Whole seconds until the breaker probes again (at least 1)."""
        left = self.open_s - (self._clock() - self._opened_at)
        return max(1, math.ceil(left))

    def trip(self, exc: BaseException) -> None:
        """Open now, whatever the count (the dependency is known to be down: it did not answer at start-up)."""
        self.last_error = str(exc)[:300]
        if self._state is not BreakerState.OPEN:
            self._open()

    def probe_now(self) -> None:
        """The dependency answers a health check again: end the open interval now (the next call probes)."""
        if self._state is BreakerState.OPEN:
            self._move(BreakerState.HALF_OPEN)

    def check(self) -> None:
        """Raise ``CircuitOpen`` if a call would be refused now (takes no probe slot)."""
        if self.state is BreakerState.OPEN:
            raise self._refusal()

    @contextlib.contextmanager
    def guard(self, counts: tuple[type[BaseException], ...], *, settles: bool = True) -> Iterator[None]:
        """One call through the breaker: refused when open (or when half-open and every probe slot is taken).

        The call's outcome moves the breaker: an exception in ``counts`` is a
        failure, a normal exit a success, anything else nothing. ``settles=False``:
        the call is only the first part of the work (getting a container); its
        success closes a half-open breaker but leaves the count of failures in a
        row to ``succeeded``/``failed`` once the rest (the run) is over.
        """
        state = self.state
        if state is BreakerState.OPEN or (state is BreakerState.HALF_OPEN and self._probing >= self.probes):
            raise self._refusal()
        probe = state is BreakerState.HALF_OPEN
        if probe:
            self._probing += 1
        try:
            yield
        except counts as exc:
            self._failure(exc)
            raise
        except BaseException:
            raise
        else:
            if probe or settles:
                self._success(probe)
        finally:
            if probe:
                self._probing -= 1

    def failed(self, exc: BaseException) -> None:
        """Count a failure seen after a call let through (the engine failing during a run)."""
        self._failure(exc)

    def succeeded(self) -> None:
        """The work a ``settles=False`` call began ended well: the failures in a row start again from 0."""
        if self._state is BreakerState.CLOSED:
            self._failed = 0

    # ------------------------------------------------------------------ private
    def _success(self, probe: bool) -> None:
        if probe:
            self._failed = 0
            self._move(BreakerState.CLOSED)
        elif self._state is BreakerState.CLOSED:
            self._failed = 0
        # else: a call admitted before the breaker opened succeeded late; it says nothing about the
        # dependency now (only a probe closes the breaker)

    def _failure(self, exc: BaseException) -> None:
        self.last_error = str(exc)[:300]
        if self._state is BreakerState.HALF_OPEN:
            self._open()
            return
        if self._state is BreakerState.CLOSED:
            self._failed += 1
            if self._failed >= self.failures:
                self._open()
        # already open (a call admitted before it opened failed late): nothing more to say

    def _open(self) -> None:
        self._opened_at = self._clock()
        self._failed = 0
        self._move(BreakerState.OPEN)

    def _move(self, new: BreakerState) -> None:
        old, self._state = self._state, new
        if old is new:
            return
        level = logging.WARNING if new is BreakerState.OPEN else logging.INFO
        reason = f" after: {self.last_error}" if new is BreakerState.OPEN else ""
        log.log(level, "circuit breaker %s: %s -> %s%s", self.name, old.value, new.value, reason)
        for listener in self._listeners:
            try:
                listener(old, new)
            except Exception:
                log.exception("circuit breaker %s: a listener failed", self.name)

    def _refusal(self) -> CircuitOpen:
        error = CircuitOpen(
            f"the {self.name} is failing and is not used for now "
            f"(circuit breaker {self._state.value}; last error: {self.last_error or 'unknown'}); retry later"
        )
        error.retry_after_s = self.retry_after_s()
        return error
