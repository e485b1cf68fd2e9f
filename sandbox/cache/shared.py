"""The result cache in Redis: one string per entry under ``sandbox:results:``, expiring with its TTL.

Every replica reads and writes the same entries, so a result computed behind one
replica is a hit behind any other. Redis bounds them by its own ``maxmemory``
(an eviction policy such as ``volatile-lru`` drops cache entries before anything
without a TTL); here each entry is at most ``result_cache_entry_kb``. Failures
become ``CacheUnavailable``: the cache steps aside, the run goes on.
"""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from sandbox.cache.results import CacheUnavailable, ResultStore

#: Every key this module writes starts with this.
PREFIX = "sandbox:results:"


class RedisResults(ResultStore):
    """Entries in the Redis at ``url``; each command gives up after ``timeout_s``."""

    name = "redis"

    def __init__(self, url: str, *, timeout_s: float) -> None:
        # One immediate retry on a dropped connection (a restarted Redis leaves dead ones in the pool).
        retry = Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))
        self._redis = aioredis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, retry=retry
        )

    async def get(self, key: str) -> bytes | None:
        try:
            data: bytes | None = await self._redis.get(PREFIX + key)
        except (RedisError, OSError) as exc:
            raise CacheUnavailable(type(exc).__name__) from exc
        return data

    async def put(self, key: str, data: bytes, ttl_s: float) -> None:
        try:
            await self._redis.set(PREFIX + key, data, px=max(1, int(ttl_s * 1000)))
        except (RedisError, OSError) as exc:
            raise CacheUnavailable(type(exc).__name__) from exc

    async def aclose(self) -> None:
        await self._redis.aclose()
