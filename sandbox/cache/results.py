"""The result cache: stored results of runs that asked for it (``cache: true``), by ``cache_key``.

``ResultCache`` is what the service's lookup stage and its record step call; it
counts every lookup (hit, miss, bypass) and every store, and it never fails a
request: a store that cannot be reached (Redis down or slow) is skipped for
``pause_s`` after each failure, its lookups answered as ``bypass`` (the run goes
to a container as if uncached), with one warning per pause in the log.

Three stores behind it: ``MemoryResults`` (a server process's, bounded in entries
and bytes, least recently used first out, each entry with a TTL); when
``SANDBOX_REDIS_URL`` is set, ``shared.RedisResults`` (every replica's, TTL set
in Redis); and for the CLI, whose every run is a process of its own,
``disk.DirectoryResults`` (files under the state directory).
"""

from __future__ import annotations

import abc
import json
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass

from pydantic import ValidationError

from sandbox.cache.key import uncacheable
from sandbox.config import Settings
from sandbox.models import ExecutionResult
from sandbox.observability import metrics

log = logging.getLogger(__name__)

#: Fields a stored result does not carry: the findings come from each request's own validation, and
#: ``cached``/``cached_from`` are set on the way out.
NOT_STORED = frozenset({"findings", "cached", "cached_from"})


class CacheUnavailable(Exception):
    """The store did not answer (a Redis outage); the caller runs the program instead."""


@dataclass(frozen=True)
class CachedResult:
    """A stored result and the execution that produced it (``origin``)."""

    origin: str
    result: ExecutionResult

    def encode(self) -> bytes:
        return json.dumps(
            {"origin": self.origin, "result": self.result.model_dump(mode="json", exclude=set(NOT_STORED))},
            separators=(",", ":"),
        ).encode()

    @classmethod
    def decode(cls, data: bytes) -> CachedResult:
        """``ValueError`` for bytes that are not an entry (a foreign writer, an older shape)."""
        try:
            entry = json.loads(data)
            return cls(str(entry["origin"]), ExecutionResult.model_validate(entry["result"]))
        except (ValueError, KeyError, TypeError, ValidationError) as exc:
            raise ValueError(f"not a cached result: {type(exc).__name__}") from None

    def answer(self) -> ExecutionResult:
        """The result as a hit returns it: a copy, marked as cached from its origin."""
        return self.result.model_copy(deep=True, update={"cached": True, "cached_from": self.origin})


class ResultStore(abc.ABC):
    """Where entries live: bytes by key, each for ``ttl_s``. Raise ``CacheUnavailable`` when unreachable."""

    name: str

    @abc.abstractmethod
    async def get(self, key: str) -> bytes | None: ...

    @abc.abstractmethod
    async def put(self, key: str, data: bytes, ttl_s: float) -> None: ...

    async def aclose(self) -> None:
        return None


class MemoryResults(ResultStore):
    """This process's entries: at most ``max_entries`` and ``max_bytes``, the least recently used dropped first."""

    name = "memory"

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()  # key -> (expires at, data)

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: str) -> bytes | None:
        found = self._entries.get(key)
        if found is None:
            return None
        expires, data = found
        if expires <= time.monotonic():
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return data

    async def put(self, key: str, data: bytes, ttl_s: float) -> None:
        if len(data) > self.max_bytes:
            return
        if key in self._entries:
            self._drop(key)
        self._entries[key] = (time.monotonic() + ttl_s, data)
        self.bytes += len(data)
        while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
            self._drop(next(iter(self._entries)))
        metrics.result_cache_held(len(self._entries), self.bytes)

    def _drop(self, key: str) -> None:
        _, data = self._entries.pop(key)
        self.bytes -= len(data)
        metrics.result_cache_held(len(self._entries), self.bytes)


class ResultCache:
    """Lookups and stores with their metrics, over ``store`` (None: the cache is off, every lookup a bypass).

    ``entry_bytes``: the largest entry kept (a result of megabytes of output is cheaper to run again than
    to crowd out a hundred small ones); ``pause_s``: how long a store that failed is left alone.
    """

    def __init__(self, store: ResultStore | None, *, ttl_s: float, entry_bytes: int, pause_s: float = 5.0) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self.entry_bytes = entry_bytes
        self.pause_s = pause_s
        self._paused_until = 0.0

    async def lookup(self, key: str) -> CachedResult | None:
        """The stored result for ``key``, or None (a miss, or a bypass: the store is off or unreachable)."""
        if self.store is None or self._paused():
            metrics.result_cache_lookup("bypass")
            return None
        try:
            data = await self.store.get(key)
        except CacheUnavailable as exc:
            self._failed("look up", exc)
            metrics.result_cache_lookup("bypass")
            return None
        if data is None:
            metrics.result_cache_lookup("miss")
            return None
        try:
            entry = CachedResult.decode(data)
        except ValueError as exc:
            log.warning("result cache (%s): ignored an unreadable entry: %s", self.store.name, exc)
            metrics.result_cache_lookup("miss")
            return None
        metrics.result_cache_lookup("hit")
        return entry

    async def remember(self, key: str, origin: str, result: ExecutionResult) -> str:
        """Keep ``result`` of execution ``origin`` under ``key`` if it may be kept; the outcome, for the log:
        ``stored``, ``skipped: <why>``, ``bypass`` (the cache is off or paused) or ``failed``."""
        if self.store is None or self._paused():
            metrics.result_cache_store("bypass")
            return "bypass"
        reason = uncacheable(result)
        data = CachedResult(origin, result).encode() if reason is None else b""
        if reason is None and len(data) > self.entry_bytes:
            reason = f"{len(data)} bytes, over the {self.entry_bytes} an entry may take (result_cache_entry_kb)"
        if reason is not None:
            metrics.result_cache_store("skipped")
            return f"skipped: {reason}"
        try:
            await self.store.put(key, data, self.ttl_s)
        except CacheUnavailable as exc:
            self._failed("store", exc)
            metrics.result_cache_store("failed")
            return "failed"
        metrics.result_cache_store("stored")
        return "stored"

    async def aclose(self) -> None:
        if self.store is not None:
            await self.store.aclose()

    def _paused(self) -> bool:
        return time.monotonic() < self._paused_until

    def _failed(self, action: str, exc: CacheUnavailable) -> None:
        assert self.store is not None
        self._paused_until = time.monotonic() + self.pause_s
        log.warning(
            "result cache (%s): could not %s (%s); runs go uncached for the next %g s",
            self.store.name,
            action,
            exc,
            self.pause_s,
        )


def build_result_cache(settings: Settings, *, on_disk: bool = False) -> ResultCache:
    """In this process by default (``on_disk``: under ``state_dir``, for the CLI's one-run processes); in
    Redis, shared by every replica, with ``SANDBOX_REDIS_URL``; off at TTL 0."""
    store: ResultStore | None = None
    if settings.result_cache_ttl_s > 0:
        if settings.redis_url is not None:
            from sandbox.cache.shared import RedisResults  # redis is imported only when it is used

            store = RedisResults(settings.redis_url, timeout_s=settings.redis_timeout_s)
        elif on_disk:
            from sandbox.cache.disk import DirectoryResults

            directory = settings.state_dir / "result-cache"
            store = DirectoryResults(directory, settings.result_cache_entries, settings.result_cache_mb << 20)
        else:
            store = MemoryResults(settings.result_cache_entries, settings.result_cache_mb << 20)
    return ResultCache(store, ttl_s=settings.result_cache_ttl_s, entry_bytes=settings.result_cache_entry_kb << 10)
