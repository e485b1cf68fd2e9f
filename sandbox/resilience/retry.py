"""Retries with exponential backoff and full jitter, for calls that are safe to repeat (tenacity).

Which calls are safe is the caller's knowledge: creating, starting or removing
a container may be tried again, running a program never is (it may have
started). ``RetryPolicy.call`` runs a blocking function (in the engine's
threads); the failures worth another try are the caller's ``retry_on`` types,
except its ``never`` ones (a timeout: another try would only wait again).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import tenacity

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` tries in all; the n-th wait is uniform in [0, min(max_s, base_s * 2**n)] (full jitter)."""

    attempts: int = 3
    base_s: float = 0.05
    max_s: float = 1.0

    def call(
        self,
        action: str,
        fn: Callable[[], T],
        *,
        retry_on: tuple[type[BaseException], ...],
        never: tuple[type[BaseException], ...] = (),
        on_retry: Callable[[str, BaseException], None] | None = None,
        before_retry: Callable[[], None] | None = None,
    ) -> T:
        """``fn()``, tried again after a ``retry_on`` failure; the last failure is raised as is.

        ``before_retry`` runs before each new try (e.g. remove what a failed try may have left).
        """

        def retrying(state: tenacity.RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            log.warning("%s failed (try %d of %d), retrying: %s", action, state.attempt_number, self.attempts, error)
            if on_retry is not None and error is not None:
                on_retry(action, error)
            if before_retry is not None:
                before_retry()

        retryer = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.attempts),
            wait=tenacity.wait_random_exponential(multiplier=self.base_s, max=self.max_s),
            retry=tenacity.retry_if_exception_type(retry_on) & tenacity.retry_if_not_exception_type(never),
            before_sleep=retrying,
            reraise=True,
        )
        return retryer(fn)
