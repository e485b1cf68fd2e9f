"""KeyLimiter: a token bucket for the rate and a counter for concurrency, per key, on a fake clock."""

from __future__ import annotations

import pytest

from sandbox.errors import RateLimited
from sandbox.resilience import KeyLimiter, admission

pytestmark = pytest.mark.anyio

PLENTY = 10_000


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(admission.time, "monotonic", fake)
    return fake


async def refused(limiter: KeyLimiter, key: str, rate: int, concurrency: int) -> RateLimited:
    with pytest.raises(RateLimited) as caught:
        await limiter.acquire(key, rate, concurrency)
    assert isinstance(caught.value.retry_after_s, int)
    return caught.value


# ----------------------------------------------------------------- concurrency


async def test_concurrency_limit_refuses_the_next_one(clock: Clock) -> None:
    limiter = KeyLimiter()
    await limiter.acquire("k", PLENTY, 2)
    await limiter.acquire("k", PLENTY, 2)
    error = await refused(limiter, "k", PLENTY, 2)
    assert error.retry_after_s >= 1
    assert error.http_status == 429
    assert "its limit is 2" in error.message


async def test_release_frees_a_slot(clock: Clock) -> None:
    limiter = KeyLimiter()
    first = await limiter.acquire("k", PLENTY, 2)
    await limiter.acquire("k", PLENTY, 2)
    await refused(limiter, "k", PLENTY, 2)
    first()
    await limiter.acquire("k", PLENTY, 2)
    await refused(limiter, "k", PLENTY, 2)


async def test_release_is_idempotent(clock: Clock) -> None:
    limiter = KeyLimiter()
    release = await limiter.acquire("k", PLENTY, 1)
    release()
    release()  # must not free a second slot
    release()
    await limiter.acquire("k", PLENTY, 1)
    await refused(limiter, "k", PLENTY, 1)


async def test_a_concurrency_refusal_takes_no_token(clock: Clock) -> None:
    limiter = KeyLimiter()
    release = await limiter.acquire("k", 2, 1)
    await refused(limiter, "k", 2, 1)
    await refused(limiter, "k", 2, 1)
    release()
    (await limiter.acquire("k", 2, 1))()  # the second of the two tokens is still there
    error = await refused(limiter, "k", 2, 1)
    assert "per minute" in error.message


# ------------------------------------------------------------------------ rate


async def test_rate_limit_gives_rate_per_min_then_refuses_until_the_next_token(clock: Clock) -> None:
    limiter = KeyLimiter()
    for _ in range(4):  # 4 per minute: one token every 15 s
        await limiter.acquire("k", 4, PLENTY)
    error = await refused(limiter, "k", 4, PLENTY)
    assert error.retry_after_s == 15
    assert "rate limit of 4 executions per minute" in error.message

    clock.now += 7.5  # half a token back: 7.5 s to go
    assert (await refused(limiter, "k", 4, PLENTY)).retry_after_s == 8  # rounded up, never early

    clock.now += 7.5
    await limiter.acquire("k", 4, PLENTY)
    assert (await refused(limiter, "k", 4, PLENTY)).retry_after_s == 15


async def test_retry_after_is_at_least_one_second(clock: Clock) -> None:
    limiter = KeyLimiter()
    for _ in range(600):
        await limiter.acquire("k", 600, PLENTY)  # one token every 0.1 s
    assert (await refused(limiter, "k", 600, PLENTY)).retry_after_s == 1


async def test_refill_is_capped_at_rate_per_min(clock: Clock) -> None:
    limiter = KeyLimiter()
    for _ in range(3):
        await limiter.acquire("k", 3, PLENTY)
    clock.now += 3600  # an hour idle refills the bucket, but only to 3
    for _ in range(3):
        await limiter.acquire("k", 3, PLENTY)
    assert (await refused(limiter, "k", 3, PLENTY)).retry_after_s == 20


async def test_a_rate_refusal_takes_no_concurrency_slot(clock: Clock) -> None:
    limiter = KeyLimiter()
    (await limiter.acquire("k", 1, 1))()
    await refused(limiter, "k", 1, 1)
    clock.now += 60
    await limiter.acquire("k", 1, 1)  # the refusal above did not keep a slot


async def test_half_a_token_is_not_enough(clock: Clock) -> None:
    limiter = KeyLimiter()
    await limiter.acquire("k", 1, PLENTY)
    clock.now += 30
    await refused(limiter, "k", 1, PLENTY)
    clock.now += 30
    await limiter.acquire("k", 1, PLENTY)
    await refused(limiter, "k", 1, PLENTY)


async def test_retry_after_is_exact_when_the_wait_is_a_whole_number(clock: Clock) -> None:
    limiter = KeyLimiter()
    await limiter.acquire("k", 2, PLENTY)
    await limiter.acquire("k", 2, PLENTY)
    clock.now += 10  # a third of a token back; the next one is due in exactly 20 s
    assert (await refused(limiter, "k", 2, PLENTY)).retry_after_s == 20


# ------------------------------------------------------------------------ keys


async def test_keys_are_independent(clock: Clock) -> None:
    limiter = KeyLimiter()
    await limiter.acquire("a", 1, 1)
    await refused(limiter, "a", 1, 1)  # a: no slot
    release_b = await limiter.acquire("b", 1, 1)  # b: untouched by a
    await refused(limiter, "b", 1, 1)
    release_b()
    await refused(limiter, "b", 1, 1)  # b: slot back, but its only token is spent
    await refused(limiter, "a", 1, 1)  # and a is still full
    await limiter.acquire("c", 5, 5)


@pytest.mark.parametrize(
    "args",
    [(None, None, None), ("key", None, 1), ("key", 10, None), (None, 10, 1)],
    ids=["local", "rate", "conc", "id"],
)
async def test_a_caller_without_a_key_or_limits_is_not_limited(args: tuple[str | None, int | None, int | None]) -> None:
    limiter = KeyLimiter()
    releases = [await limiter.acquire(*args) for _ in range(1000)]
    for release in releases:
        release()
    assert await limiter.acquire("key", 1, 1) is not None  # a real key is still limited on its own
    with pytest.raises(RateLimited):
        await limiter.acquire("key", 1, 1)


async def test_take_spends_a_token_of_the_rate_only() -> None:
    limiter = KeyLimiter()
    release = await limiter.acquire("key", 2, 1)  # one token, and the only concurrency slot, held
    await limiter.take("key", 2)  # opening a session needs no slot: the second token
    with pytest.raises(RateLimited, match="rate limit of 2 per minute") as caught:
        await limiter.take("key", 2)
    assert caught.value.retry_after_s >= 1
    release()
    await limiter.take(None, None)  # the local operator is not limited
