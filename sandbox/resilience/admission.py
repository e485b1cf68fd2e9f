"""Per-caller admission: a token bucket for the rate, a counter for concurrency.

``Limiter`` is the contract the service uses; ``KeyLimiter`` keeps the state in this process
(one server, the CLI, tests), ``RedisKeyLimiter`` (``shared_limits``) in Redis, shared by
every replica. Refusals are ``RateLimited`` with ``retry_after_s`` for the ``Retry-After``
header; the messages and the arithmetic below are the same for both.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

from sandbox.errors import RateLimited

#: What ``acquire`` returns: a plain (sync) call that gives the slot back; calling it twice is harmless.
Release = Callable[[], None]


class Limiter(ABC):
    """``release = await limiter.acquire(key_id, rate_per_min, max_concurrency)``; call ``release()`` when done.

    A caller without a key or without limits (the local operator) is never limited. The rate is
    a token bucket per key: capacity ``rate_per_min``, refilled at ``rate_per_min / 60`` a second.
    """

    @abstractmethod
    async def acquire(self, key_id: str | None, rate_per_min: int | None, max_concurrency: int | None) -> Release:
        """Take one token and one concurrency slot, or raise ``RateLimited``; returns the release."""

    @abstractmethod
    async def take(self, key_id: str | None, rate_per_min: int | None) -> None:
        """Take one token of the rate only (opening a session: no execution runs yet)."""

    @abstractmethod
    async def charge(self, key_id: str | None, rate_per_min: int | None, tokens: float) -> None:
        """Take ``tokens`` more after the fact (a validation's CPU time beyond its free part).

        Never refuses: the balance may go negative, down to one minute's worth of the rate,
        and the key's next requests are refused (with Retry-After) until it has refilled.
        """

    @abstractmethod
    async def aclose(self) -> None:
        """Give back what the limiter holds (connections): at the service's shutdown."""


def concurrency_refused(running: int, max_concurrency: int) -> RateLimited:
    """The refusal when a key already runs its limit of executions."""
    error = RateLimited(f"this key already runs {running} executions (its limit is {max_concurrency})")
    error.retry_after_s = 1
    return error


def rate_refused(message: str, tokens: float, rate_per_min: int) -> RateLimited:
    """The refusal when a key's bucket holds less than a token: Retry-After is when it will hold one."""
    error = RateLimited(message)
    error.retry_after_s = math.ceil((1 - tokens) * 60 / rate_per_min - 1e-9)  # no 21 s for 20.000000000000004
    return error


def execution_rate_message(rate_per_min: int) -> str:
    return f"this key's rate limit of {rate_per_min} executions per minute is used up"


def take_rate_message(rate_per_min: int) -> str:
    return f"this key's rate limit of {rate_per_min} per minute is used up"


@dataclass
class _Bucket:
    tokens: float
    updated: float = field(default_factory=time.monotonic)
    running: int = 0


class KeyLimiter(Limiter):
    """In-process state: with several workers or replicas each enforces its own share."""

    def __init__(self) -> None:
        self._buckets: dict[str, _Bucket] = {}

    async def acquire(self, key_id: str | None, rate_per_min: int | None, max_concurrency: int | None) -> Release:
        if key_id is None or rate_per_min is None or max_concurrency is None:
            return _unlimited
        bucket = self._refill(key_id, rate_per_min)
        if bucket.running >= max_concurrency:
            raise concurrency_refused(bucket.running, max_concurrency)
        if bucket.tokens < 1:
            raise rate_refused(execution_rate_message(rate_per_min), bucket.tokens, rate_per_min)
        bucket.tokens -= 1
        bucket.running += 1
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                bucket.running -= 1

        return release

    async def take(self, key_id: str | None, rate_per_min: int | None) -> None:
        if key_id is None or rate_per_min is None:
            return
        bucket = self._refill(key_id, rate_per_min)
        if bucket.tokens < 1:
            raise rate_refused(take_rate_message(rate_per_min), bucket.tokens, rate_per_min)
        bucket.tokens -= 1

    async def charge(self, key_id: str | None, rate_per_min: int | None, tokens: float) -> None:
        if key_id is None or rate_per_min is None or tokens <= 0:
            return
        bucket = self._refill(key_id, rate_per_min)
        bucket.tokens = max(bucket.tokens - tokens, -float(rate_per_min))

    async def aclose(self) -> None:
        """Nothing to give back: the buckets are this process's memory."""

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
