"""RedisKeyLimiter on a real Redis: two limiters stand for two replicas sharing one key's rate and slots."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import redis

from sandbox.cluster.localservers import LocalRedis, free_port
from sandbox.config import Settings
from sandbox.engine import FakeBackend, ImageCatalog, RunOutcome, RunSpec
from sandbox.errors import RateLimited, SharedStateUnavailable
from sandbox.models import Status
from sandbox.resilience import KeyLimiter
from sandbox.resilience.shared_limits import PREFIX, RedisKeyLimiter, bucket_key, lease_for, slots_key
from sandbox.service import ExecutionService
from sandbox.validation import PolicySet

pytestmark = pytest.mark.anyio
PLENTY = 10_000


@pytest.fixture
async def replicas(redis_url: str) -> AsyncIterator[tuple[RedisKeyLimiter, RedisKeyLimiter]]:
    a = RedisKeyLimiter(redis_url, timeout_s=2, lease_s=60)
    b = RedisKeyLimiter(redis_url, timeout_s=2, lease_s=60)
    yield a, b
    await a.aclose()
    await b.aclose()


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    direct = redis.Redis.from_url(redis_url)
    yield direct
    direct.close()


async def eventually(attempt: Callable[[], object], within_s: float) -> None:
    """Await ``attempt()`` until it stops raising ``RateLimited`` (a release lands asynchronously)."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            await attempt()  # type: ignore[misc]
            return
        except RateLimited:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.02)


async def test_two_replicas_share_one_keys_rate(replicas: tuple[RedisKeyLimiter, RedisKeyLimiter]) -> None:
    a, b = replicas
    for i in range(4):
        (await (a if i % 2 else b).acquire("k", 4, PLENTY))()
    for limiter in (a, b):
        with pytest.raises(RateLimited, match="rate limit of 4 executions per minute is used up") as caught:
            await limiter.acquire("k", 4, PLENTY)
        assert caught.value.retry_after_s == 15  # a token every 15 s, rounded up
        assert caught.value.http_status == 429
    await a.acquire("other", 4, PLENTY)  # another key has its own bucket


async def test_a_slot_held_on_one_replica_refuses_on_the_other(
    replicas: tuple[RedisKeyLimiter, RedisKeyLimiter],
) -> None:
    a, b = replicas
    release = await a.acquire("k", PLENTY, 1)
    with pytest.raises(RateLimited, match=r"already runs 1 executions \(its limit is 1\)") as caught:
        await b.acquire("k", PLENTY, 1)
    assert caught.value.retry_after_s == 1
    release()
    release()  # idempotent: one slot given back, not two
    await eventually(lambda: b.acquire("k", PLENTY, 1), within_s=2)
    with pytest.raises(RateLimited, match="its limit is 1"):
        await a.acquire("k", PLENTY, 1)


async def test_acquires_racing_on_two_replicas_never_exceed_the_limit(
    replicas: tuple[RedisKeyLimiter, RedisKeyLimiter],
) -> None:
    a, b = replicas
    attempts = [(a if i % 2 else b).acquire("k", 5, 3) for i in range(40)]
    outcomes = await asyncio.gather(*attempts, return_exceptions=True)
    admitted = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(admitted) == 3
    assert all(isinstance(o, RateLimited) for o in outcomes if isinstance(o, BaseException))


async def test_take_and_charge_are_shared(
    replicas: tuple[RedisKeyLimiter, RedisKeyLimiter], client: redis.Redis
) -> None:
    a, b = replicas
    await a.take("k", 60)
    await b.charge("k", 60, 500)  # far more than the bucket holds: it stops at -rate
    tokens = float(client.hget(bucket_key("k"), "tokens") or 0)
    assert tokens == pytest.approx(-60, abs=0.1)
    with pytest.raises(RateLimited, match="rate limit of 60 per minute is used up") as caught:
        await a.take("k", 60)
    assert 60 <= caught.value.retry_after_s <= 61
    with pytest.raises(RateLimited, match="60 executions per minute"):
        await b.acquire("k", 60, PLENTY)
    await b.charge(None, 60, 5)  # the local operator is never charged
    await b.charge("k", 60, 0)  # nothing to charge: Redis is not even asked
    assert float(client.hget(bucket_key("k"), "tokens") or 0) == pytest.approx(tokens, abs=0.1)


async def test_the_take_refusal_spends_nothing(replicas: tuple[RedisKeyLimiter, RedisKeyLimiter]) -> None:
    a, b = replicas
    release = await a.acquire("k", 2, 1)  # one token and the only slot
    await b.take("k", 2)  # a session needs no slot: the second token
    with pytest.raises(RateLimited, match="rate limit of 2 per minute"):
        await a.take("k", 2)
    release()


async def test_an_expired_lease_frees_the_slot(redis_url: str, client: redis.Redis) -> None:
    crashed = RedisKeyLimiter(redis_url, timeout_s=2, lease_s=0.5)  # holds a slot and "dies"
    survivor = RedisKeyLimiter(redis_url, timeout_s=2, lease_s=60)
    try:
        await crashed.acquire("k", PLENTY, 1)
        with pytest.raises(RateLimited, match="its limit is 1"):
            await survivor.acquire("k", PLENTY, 1)
        await asyncio.sleep(0.7)
        await survivor.acquire("k", PLENTY, 1)  # the dead replica's slot is gone
        assert client.zcard(slots_key("k")) == 1
    finally:
        await crashed.aclose()
        await survivor.aclose()


async def test_idle_keys_expire(replicas: tuple[RedisKeyLimiter, RedisKeyLimiter], client: redis.Redis) -> None:
    a, _ = replicas
    release = await a.acquire("k", 6, 2)  # one token short of full: refilled in 10 s
    bucket_ttl = client.pttl(bucket_key("k"))
    assert 10_000 < bucket_ttl <= 11_000  # the time to refill, plus a second
    assert 59_000 < client.pttl(slots_key("k")) <= 61_000  # the lease, plus a second
    assert all(key.decode().startswith(PREFIX) for key in client.keys("*"))
    release()
    deadline = time.monotonic() + 2
    while client.exists(slots_key("k")) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert not client.exists(slots_key("k"))  # the last slot given back: the set is gone
    await a.take("fast", 600)  # a token every 0.1 s: full again almost at once, so gone soon
    assert 0 < client.pttl(bucket_key("fast")) <= 1_100
    await asyncio.sleep(1.3)
    assert not client.exists(bucket_key("fast"))
    for _ in range(600):  # gone means full: the whole rate again
        await a.take("fast", 600)


async def test_unlimited_callers_never_ask_redis(tmp_path: Path) -> None:
    limiter = RedisKeyLimiter(f"redis://127.0.0.1:{free_port()}/0", timeout_s=0.5, lease_s=60)  # nobody there
    try:
        (await limiter.acquire(None, None, None))()
        (await limiter.acquire("k", None, 1))()
        await limiter.take(None, None)
        await limiter.charge(None, 60, 5)
    finally:
        await limiter.aclose()


async def refused_quickly(operation: Callable[[], object], timeout_s: float) -> SharedStateUnavailable:
    started = time.monotonic()
    with pytest.raises(SharedStateUnavailable) as caught:
        await operation()  # type: ignore[misc]
    assert time.monotonic() - started < timeout_s + 1
    error = caught.value
    assert (error.http_status, error.retry_after_s) == (503, 2)
    assert error.message == "the rate-limit store (Redis) is unreachable; retry shortly"
    return error


async def test_redis_down_refuses_with_503_then_recovers(own_redis: LocalRedis) -> None:
    limiter = RedisKeyLimiter(own_redis.url, timeout_s=1, lease_s=60)
    try:
        release = await limiter.acquire("k", PLENTY, 5)  # a pooled connection, soon a dead one
        own_redis.stop()
        await refused_quickly(lambda: limiter.acquire("k", PLENTY, 5), 1)
        await refused_quickly(lambda: limiter.take("k", PLENTY), 1)
        await refused_quickly(lambda: limiter.charge("k", PLENTY, 3), 1)
        release()  # cannot reach Redis: logged, the lease will end the slot; never raises
        own_redis.start()
        (await limiter.acquire("k", PLENTY, 5))()
        await limiter.take("k", PLENTY)
    finally:
        await limiter.aclose()


async def test_a_hung_redis_times_out_within_the_timeout(own_redis: LocalRedis) -> None:
    limiter = RedisKeyLimiter(own_redis.url, timeout_s=0.5, lease_s=60)
    assert own_redis.process is not None
    try:
        await limiter.take("k", PLENTY)
        os.kill(own_redis.process.pid, signal.SIGSTOP)  # alive, listening, answering nothing
        try:
            await refused_quickly(lambda: limiter.acquire("k", PLENTY, 5), 0.5)
        finally:
            os.kill(own_redis.process.pid, signal.SIGCONT)
        await limiter.take("k", PLENTY)
    finally:
        await limiter.aclose()


def hello(spec: RunSpec) -> RunOutcome:
    return RunOutcome(Status.OK, exit_code=0, stdout=b"hi\n")


async def test_the_service_shares_its_limits_when_redis_is_configured(redis_url: str) -> None:
    settings = Settings(redis_url=redis_url, redis_timeout_s=1.5)
    policies = PolicySet(settings.policies_dir, settings.default_policy)
    catalog = ImageCatalog(settings.images_dir)
    service = ExecutionService(settings, FakeBackend(hello), catalog, policies, warm=False)
    limiter = service.limiter
    assert isinstance(limiter, RedisKeyLimiter)
    assert limiter.lease_s == lease_for(settings) > settings.max_request_wall_time_s
    await service.aclose()  # closes the Redis connections
    local = ExecutionService(Settings(), FakeBackend(hello), catalog, policies, warm=False)
    assert isinstance(local.limiter, KeyLimiter)
    await local.aclose()
