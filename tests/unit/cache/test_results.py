"""The result cache's stores and front: bounds, TTL, what a hit returns, and a store that fails."""

from __future__ import annotations

import asyncio
import logging

import pytest
from prometheus_client import REGISTRY

from sandbox.cache import CachedResult, CacheUnavailable, MemoryResults, ResultCache, ResultStore
from sandbox.models import ExecutionResult, Finding, Status

pytestmark = pytest.mark.anyio


def lookups(outcome: str) -> float:
    return REGISTRY.get_sample_value("sandbox_result_cache_lookups_total", {"outcome": outcome}) or 0.0


def stores(outcome: str) -> float:
    return REGISTRY.get_sample_value("sandbox_result_cache_stores_total", {"outcome": outcome}) or 0.0


async def test_memory_keeps_at_most_its_entries_least_recently_used_out_first() -> None:
    memory = MemoryResults(max_entries=2, max_bytes=1000)
    await memory.put("a", b"1", 60)
    await memory.put("b", b"2", 60)
    assert await memory.get("a") == b"1"  # a is now the most recently used
    await memory.put("c", b"3", 60)
    assert (await memory.get("a"), await memory.get("b"), await memory.get("c")) == (b"1", None, b"3")
    assert len(memory) == 2


async def test_memory_keeps_at_most_its_bytes() -> None:
    memory = MemoryResults(max_entries=100, max_bytes=10)
    await memory.put("a", b"x" * 6, 60)
    await memory.put("b", b"y" * 6, 60)
    assert (await memory.get("a"), await memory.get("b")) == (None, b"y" * 6)
    assert memory.bytes == 6
    await memory.put("huge", b"z" * 11, 60)  # larger than the whole cache: not kept, nothing dropped for it
    assert await memory.get("huge") is None and await memory.get("b") == b"y" * 6
    await memory.put("b", b"w", 60)  # replaced: its bytes counted once
    assert memory.bytes == 1


async def test_memory_entries_expire() -> None:
    memory = MemoryResults(max_entries=10, max_bytes=1000)
    await memory.put("a", b"1", 0.05)
    assert await memory.get("a") == b"1"
    await asyncio.sleep(0.08)
    assert await memory.get("a") is None and len(memory) == 0 and memory.bytes == 0


async def test_a_hit_is_a_marked_copy_without_the_stored_findings() -> None:
    cache = ResultCache(MemoryResults(10, 1 << 20), ttl_s=60, entry_bytes=1 << 20)
    result = ExecutionResult(
        status=Status.OK, stdout="hi\n", wall_ms=7, findings=[Finding(rule_id="r", message="m", action="warn")]
    )
    hits, misses = lookups("hit"), lookups("miss")
    assert await cache.lookup("k") is None
    assert await cache.remember("k", "origin-id", result) == "stored"
    entry = await cache.lookup("k")
    assert entry is not None and entry.origin == "origin-id"
    answer = entry.answer()
    assert (answer.cached, answer.cached_from, answer.stdout, answer.wall_ms) == (True, "origin-id", "hi\n", 7)
    assert answer.findings == []  # each request's findings are its own validation's
    answer.stdout = "changed"
    again = await cache.lookup("k")
    assert again is not None and again.answer().stdout == "hi\n"  # a hit's result is a copy
    assert (lookups("hit") - hits, lookups("miss") - misses) == (2, 1)


async def test_what_is_not_the_programs_own_verdict_or_too_large_is_skipped() -> None:
    cache = ResultCache(MemoryResults(10, 1 << 20), ttl_s=60, entry_bytes=2048)
    skipped = stores("skipped")
    timed_out = await cache.remember("t", "o", ExecutionResult(status=Status.TIMEOUT))
    assert timed_out == "skipped: status timeout is not the program's own verdict"
    large = await cache.remember("big", "o", ExecutionResult(status=Status.OK, stdout="x" * 4096))
    assert large.startswith("skipped: ") and "over the 2048 an entry may take (result_cache_entry_kb)" in large
    assert await cache.lookup("t") is None and await cache.lookup("big") is None
    assert stores("skipped") - skipped == 2


def test_an_entry_that_is_not_one_is_refused() -> None:
    for data in (b"", b"{", b'{"origin": "x"}', b'{"origin": "x", "result": {"status": "nope"}}', b"[]"):
        with pytest.raises(ValueError, match="not a cached result"):
            CachedResult.decode(data)


class Down(ResultStore):
    """A store that cannot be reached (Redis away), counting the attempts."""

    name = "down"

    def __init__(self) -> None:
        self.calls = 0

    async def get(self, key: str) -> bytes | None:
        self.calls += 1
        raise CacheUnavailable("ConnectionError")

    async def put(self, key: str, data: bytes, ttl_s: float) -> None:
        self.calls += 1
        raise CacheUnavailable("ConnectionError")


async def test_a_store_that_fails_is_bypassed_for_a_pause_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    down = Down()
    cache = ResultCache(down, ttl_s=60, entry_bytes=1 << 20, pause_s=0.1)
    bypassed = lookups("bypass")
    with caplog.at_level(logging.WARNING, "sandbox.cache"):
        assert await cache.lookup("k") is None
        assert await cache.lookup("k") is None  # paused: not even tried
        assert await cache.remember("k", "o", ExecutionResult(status=Status.OK)) == "bypass"
    assert down.calls == 1 and lookups("bypass") - bypassed == 2
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "runs go uncached" in warnings[0] and "ConnectionError" in warnings[0]
    await asyncio.sleep(0.12)
    assert await cache.remember("k", "o", ExecutionResult(status=Status.OK)) == "failed"  # tried again
    assert down.calls == 2


async def test_a_cache_without_a_store_is_off() -> None:
    cache = ResultCache(None, ttl_s=0, entry_bytes=1)
    bypassed = lookups("bypass")
    assert await cache.lookup("k") is None
    assert await cache.remember("k", "o", ExecutionResult(status=Status.OK)) == "bypass"
    assert lookups("bypass") - bypassed == 1
