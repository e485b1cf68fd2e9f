"""When to send a refused request again: 429 and 503 only, after the server's Retry-After, bounded.

Both refusals happen before anything runs (a rate or concurrency limit; no sandbox to be had), so
sending the same request again cannot run a program twice. Two bounds, both the caller's:
``max_attempts`` (sends in all, the first included) and ``max_wait_s`` (seconds slept in all). A
wait that would pass ``max_wait_s`` is not shortened: the error is raised at once, saying so,
because coming back before the server's Retry-After would only be refused again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sandbox.client.errors import APIError, CapacityUnavailable, ConfigurationError, RateLimited

#: The wait when the server sends no (readable) Retry-After: 0.5 s, 1 s, 2 s... up to this.
BACKOFF_CAP_S = 8.0


@dataclass(frozen=True)
class RetryPolicy:
    """The caller's bounds: ``max_attempts`` sends in all (1: never retry), ``max_wait_s`` of sleep in all."""

    max_attempts: int = 3
    max_wait_s: float = 30.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigurationError(f"max_attempts must be at least 1 (one send, no retry); got {self.max_attempts}")
        if not self.max_wait_s >= 0:
            raise ConfigurationError(f"max_retry_wait_s must be 0 or more seconds; got {self.max_wait_s}")

    def start(self) -> Attempts:
        return Attempts(self)


def backoff(attempt: int) -> float:
    """The wait after the ``attempt``-th send when the server did not say how long."""
    return float(min(BACKOFF_CAP_S, 0.5 * 2 ** (attempt - 1)))


@dataclass
class Attempts:
    """One request's retries: ``wait_or_raise(error)`` after each refused send."""

    policy: RetryPolicy
    sent: int = 0
    waited: float = field(default=0.0)

    def wait_or_raise(self, error: APIError) -> float:
        """Seconds to sleep before sending again, or ``error`` raised (with ``attempts`` and a note why)."""
        self.sent += 1
        error.attempts = self.sent
        if not isinstance(error, RateLimited | CapacityUnavailable):
            raise error
        wait = error.retry_after if error.retry_after is not None else backoff(self.sent)
        if self.sent >= self.policy.max_attempts:
            if self.policy.max_attempts > 1:
                error.note = f"gave up after {self.sent} attempts (max_attempts={self.policy.max_attempts})"
            raise error
        if self.waited + wait > self.policy.max_wait_s:
            error.note = (
                f"not retried: the server asked to wait {wait:g} s, past the retry budget "
                f"(max_retry_wait_s={self.policy.max_wait_s:g}, {self.waited:g} s already waited)"
            )
            raise error
        self.waited += wait
        return wait
