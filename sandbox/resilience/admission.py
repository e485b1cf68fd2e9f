"""Per-caller admission: a token bucket for the rate, a counter for concurrency.

In-process state: with several workers or replicas each enforces its own share
(documented). Refusals are ``RateLimited`` with ``retry_after_s`` for the
``Retry-After`` header.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sandbox.errors import RateLimited


@dataclass
class _Bucket:
    tokens: float
    updated: float = field(default_factory=time.monotonic)
    running: int = 0


class KeyLimiter:
    """``release = limiter.acquire(key_id, rate_per_min, max_concurrency)``; call ``release()`` when done."""

    def __init__(self) -> None:
        self._buckets: dict[str, _Bucket] = {}

    def acquire(self, key_id: str | None, rate_per_min: int | None, max_concurrency: int | None) -> Callable[[], None]:
        """Take one token and one concurrency slot, or raise ``RateLimited``; returns the release.

        A caller without a key or without limits (the local operator) is not limited.
        """
        if key_id is None or rate_per_min is None or max_concurrency is None:
            return _unlimited
        bucket = self._refill(key_id, rate_per_min)
        if bucket.running >= max_concurrency:
            error = RateLimited(f"this key already runs {bucket.running} executions (its limit is {max_concurrency})")
            error.retry_after_s = 1
            raise error
        if bucket.tokens < 1:
            wait = math.ceil((1 - bucket.tokens) * 60 / rate_per_min - 1e-9)  # no 21 s for 20.000000000000004
            error = RateLimited(f"this key's rate limit of {rate_per_min} executions per minute is used up")
            error.retry_after_s = wait
            raise error
        bucket.tokens -= 1
        bucket.running += 1
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                bucket.running -= 1

        return release

    def take(self, key_id: str | None, rate_per_min: int | None) -> None:
        """Take one token of the rate only (opening a session: no execution runs yet)."""
        if key_id is None or rate_per_min is None:
            return
        bucket = self._refill(key_id, rate_per_min)
        if bucket.tokens < 1:
            error = RateLimited(f"this key's rate limit of {rate_per_min} per minute is used up")
            error.retry_after_s = math.ceil((1 - bucket.tokens) * 60 / rate_per_min - 1e-9)
            raise error
        bucket.tokens -= 1

    def charge(self, key_id: str | None, rate_per_min: int | None, tokens: float) -> None:
        """Take ``tokens`` more after the fact (a validation's CPU time beyond its free part).

        Never refuses: the balance may go negative, down to one minute's worth of the rate,
        and the key's next requests are refused (with Retry-After) until it has refilled.
        """
        if key_id is None or rate_per_min is None or tokens <= 0:
            return
        bucket = self._refill(key_id, rate_per_min)
        bucket.tokens = max(bucket.tokens - tokens, -float(rate_per_min))

    def _refill(self, key_id: str, rate_per_min: int) -> _Bucket:
        bucket = self._buckets.get(key_id)
        now = time.monotonic()
        if bucket is None:
            bucket = self._buckets[key_id] = _Bucket(tokens=float(rate_per_min), updated=now)
        bucket.tokens = min(float(rate_per_min), bucket.tokens + (now - bucket.updated) * rate_per_min / 60)
        bucket.updated = now
        return bucket


def _unlimited() -> None:
    """The release of an unlimited caller: nothing was taken."""
