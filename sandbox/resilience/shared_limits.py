"""Per-key rate and concurrency shared by every API replica: ``KeyLimiter``'s contract, kept in Redis.

Each operation is one Lua script, so it is atomic however many replicas call at once, and reads
Redis's clock (``TIME``), so the replicas' clocks do not matter. A concurrency slot is a member
of a per-key sorted set scored by its lease's expiry: a replica that crashes holding slots does
not hold them forever, they are dropped (inside the scripts, before counting) once their lease
is over. Keys live under ``sandbox:limits:`` and expire when idle: a bucket's TTL is the time it
takes to refill, so an expired bucket and a full one are the same thing.

When Redis does not answer within ``timeout_s`` every operation raises ``SharedStateUnavailable``
(503 with Retry-After): admitting without the shared state would let each replica spend a key's
whole rate. A release that cannot reach Redis is logged; the slot goes when its lease does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from sandbox.errors import SharedStateUnavailable
from sandbox.resilience.admission import (
    Limiter,
    Release,
    concurrency_refused,
    execution_rate_message,
    rate_refused,
    take_rate_message,
)

if TYPE_CHECKING:
    from sandbox.config import Settings

log = logging.getLogger(__name__)

#: Every key this module writes starts with this.
PREFIX = "sandbox:limits:"
#: Added to the longest an execution may hold its slot (validation, queue, run) to make its lease.
LEASE_MARGIN_S = 60.0
UNREACHABLE = "the rate-limit store (Redis) is unreachable; retry shortly"

# The bucket is a hash {tokens, at}; a missing one is full. Its TTL is the time to refill (+1 s).
_BUCKET = """
local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function fmt(x) return string.format('%.17g', x) end
local function level(bucket, rate, now)
  local state = redis.call('HMGET', bucket, 'tokens', 'at')
  local tokens, at = tonumber(state[1]), tonumber(state[2])
  if tokens == nil or at == nil then return rate end
  return math.min(rate, tokens + math.max(0, now - at) * rate / 60)
end
local function keep(bucket, tokens, rate, now)
  redis.call('HSET', bucket, 'tokens', fmt(tokens), 'at', fmt(now))
  redis.call('PEXPIRE', bucket, math.ceil((rate - tokens) * 60000 / rate) + 1000)
end
"""

# KEYS: bucket, slots. ARGV: rate, max concurrency, lease (s), slot id.
# {0, running} admitted; {1, running} no slot; {2, tokens} no token. A refusal changes nothing.
_ACQUIRE = (
    _BUCKET
    + """
local rate, most, lease, slot = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local now = clock()
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', fmt(now))
local running = redis.call('ZCARD', KEYS[2])
if running >= most then return {1, tostring(running)} end
local tokens = level(KEYS[1], rate, now)
if tokens < 1 then return {2, fmt(tokens)} end
keep(KEYS[1], tokens - 1, rate, now)
redis.call('ZADD', KEYS[2], fmt(now + lease), slot)
local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[2], math.ceil(tonumber(last[2]) * 1000) + 1000)
return {0, tostring(running + 1)}
"""
)

# KEYS: bucket. ARGV: rate. {0, tokens left} taken; {2, tokens} refused.
_TAKE = (
    _BUCKET
    + """
local rate = tonumber(ARGV[1])
local now = clock()
local tokens = level(KEYS[1], rate, now)
if tokens < 1 then return {2, fmt(tokens)} end
keep(KEYS[1], tokens - 1, rate, now)
return {0, fmt(tokens - 1)}
"""
)

# KEYS: bucket. ARGV: rate, cost. Never refuses; the balance stops at -rate. Returns the balance.
_CHARGE = (
    _BUCKET
    + """
local rate, cost = tonumber(ARGV[1]), tonumber(ARGV[2])
local now = clock()
local tokens = math.max(level(KEYS[1], rate, now) - cost, -rate)
keep(KEYS[1], tokens, rate, now)
return fmt(tokens)
"""
)


def bucket_key(key_id: str) -> str:
    """The hash of ``key_id``'s token bucket (the braces keep a key's two entries on one cluster slot)."""
    return f"{PREFIX}{{{key_id}}}:bucket"


def slots_key(key_id: str) -> str:
    """The sorted set of ``key_id``'s concurrency slots, each scored by its lease's expiry (Redis time)."""
    return f"{PREFIX}{{{key_id}}}:slots"


def lease_for(settings: Settings) -> float:
    """How long a slot lives without its release: the longest an admitted execution may take, plus a margin."""
    return settings.validation_timeout_s + settings.queue_timeout_s + settings.max_request_wall_time_s + LEASE_MARGIN_S


class RedisKeyLimiter(Limiter):
    """``KeyLimiter``'s semantics and messages, with the state in Redis at ``url`` (shared by replicas).

    ``timeout_s`` bounds each command (connect and reply); ``lease_s`` is how long a slot is held
    when its release never comes (the replica crashed, or Redis was away at release time).
    """

    def __init__(self, url: str, *, timeout_s: float, lease_s: float) -> None:
        # One immediate retry on a dropped connection (a Redis restart leaves the pool's connections
        # dead), none on a timeout: a refusal must come within about ``timeout_s``.
        retry = Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))
        self._redis = aioredis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, retry=retry
        )
        self.lease_s = lease_s
        self._acquire = self._redis.register_script(_ACQUIRE)
        self._take = self._redis.register_script(_TAKE)
        self._charge = self._redis.register_script(_CHARGE)
        self._releasing: set[asyncio.Task[None]] = set()

    @classmethod
    def from_settings(cls, settings: Settings) -> RedisKeyLimiter:
        assert settings.redis_url is not None
        return cls(settings.redis_url, timeout_s=settings.redis_timeout_s, lease_s=lease_for(settings))

    async def acquire(self, key_id: str | None, rate_per_min: int | None, max_concurrency: int | None) -> Release:
        if key_id is None or rate_per_min is None or max_concurrency is None:
            return _unlimited
        slot = uuid.uuid4().hex
        with _reachable():
            answer = await self._acquire(
                keys=[bucket_key(key_id), slots_key(key_id)], args=[rate_per_min, max_concurrency, self.lease_s, slot]
            )
        outcome, value = int(answer[0]), _number(answer[1])
        if outcome == 1:
            raise concurrency_refused(int(value), max_concurrency)
        if outcome == 2:
            raise rate_refused(execution_rate_message(rate_per_min), value, rate_per_min)
        return self._release_of(key_id, slot)

    async def take(self, key_id: str | None, rate_per_min: int | None) -> None:
        if key_id is None or rate_per_min is None:
            return
        with _reachable():
            answer = await self._take(keys=[bucket_key(key_id)], args=[rate_per_min])
        if int(answer[0]) == 2:
            raise rate_refused(take_rate_message(rate_per_min), _number(answer[1]), rate_per_min)

    async def charge(self, key_id: str | None, rate_per_min: int | None, tokens: float) -> None:
        if key_id is None or rate_per_min is None or tokens <= 0:
            return
        with _reachable():
            await self._charge(keys=[bucket_key(key_id)], args=[rate_per_min, repr(float(tokens))])

    async def aclose(self) -> None:
        """Let the releases under way finish (each within the command timeout), then close the connections."""
        if self._releasing:
            await asyncio.gather(*self._releasing, return_exceptions=True)
        await self._redis.aclose()

    def _release_of(self, key_id: str, slot: str) -> Release:
        """A sync release (``Execution.release`` is sync): it schedules the removal on the running loop."""
        released = False

        def release() -> None:
            nonlocal released
            if released:
                return
            released = True
            try:
                task = asyncio.get_running_loop().create_task(self._give_back(key_id, slot))
            except RuntimeError:  # no loop (a sync caller): the lease ends the slot
                log.warning("released a concurrency slot outside the event loop; it is freed when its lease ends")
                return
            self._releasing.add(task)  # referenced until done, or the loop may drop it mid-flight
            task.add_done_callback(self._releasing.discard)

        return release

    async def _give_back(self, key_id: str, slot: str) -> None:
        try:
            await self._redis.zrem(slots_key(key_id), slot)  # one command: atomic without a script
        except RedisError as exc:
            log.warning(
                "could not release a concurrency slot of key %s (%s); it is freed when its lease ends in at most %g s",
                key_id,
                type(exc).__name__,
                self.lease_s,
            )


@contextlib.contextmanager
def _reachable() -> Iterator[None]:
    """Redis's failures become ``SharedStateUnavailable`` (503, Retry-After), never a 500 or its URL."""
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError) as exc:
        log.warning("the rate-limit store (Redis) is unreachable: %s", type(exc).__name__)
        raise SharedStateUnavailable(UNREACHABLE) from exc
    except RedisError as exc:  # a READONLY replica, out of memory, ...: the same answer, the cause logged
        log.exception("the rate-limit store (Redis) failed")
        raise SharedStateUnavailable(UNREACHABLE) from exc


def _number(value: Any) -> float:
    return float(value.decode() if isinstance(value, bytes) else value)


def _unlimited() -> None:
    """The release of an unlimited caller: nothing was taken."""
