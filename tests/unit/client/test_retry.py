"""Retry decisions alone: which errors, how long, and the two bounds (attempts, total wait)."""

from __future__ import annotations

import pytest

from sandbox.client.errors import CapacityUnavailable, ConfigurationError, NotFound, RateLimited, ServerError
from sandbox.client.retry import BACKOFF_CAP_S, RetryPolicy, backoff


def busy(retry_after: float | None = None) -> CapacityUnavailable:
    return CapacityUnavailable("busy", status_code=503, retry_after=retry_after)


def test_only_429_and_503_are_retried() -> None:
    attempts = RetryPolicy(max_attempts=5, max_wait_s=100).start()
    for error in (NotFound("gone", status_code=404), ServerError("boom", status_code=500)):
        with pytest.raises(type(error)):
            attempts.wait_or_raise(error)
    assert attempts.wait_or_raise(RateLimited("slow down", status_code=429, retry_after=2)) == 2
    assert attempts.wait_or_raise(busy(3)) == 3


def test_the_server_retry_after_is_honoured_and_backoff_fills_in_without_one() -> None:
    attempts = RetryPolicy(max_attempts=10, max_wait_s=100).start()
    assert attempts.wait_or_raise(busy(4)) == 4
    assert attempts.wait_or_raise(busy()) == backoff(2) == 1.0
    assert backoff(1) == 0.5 and backoff(30) == BACKOFF_CAP_S


def test_max_attempts_bounds_the_sends() -> None:
    attempts = RetryPolicy(max_attempts=3, max_wait_s=100).start()
    assert attempts.wait_or_raise(busy(0)) == 0
    assert attempts.wait_or_raise(busy(0)) == 0
    with pytest.raises(CapacityUnavailable) as raised:
        attempts.wait_or_raise(busy(0))
    assert raised.value.attempts == 3 and "gave up after 3 attempts" in str(raised.value)


def test_a_wait_past_the_budget_is_not_shortened_but_refused_at_once() -> None:
    attempts = RetryPolicy(max_attempts=10, max_wait_s=10).start()
    assert attempts.wait_or_raise(busy(6)) == 6
    with pytest.raises(CapacityUnavailable) as raised:
        attempts.wait_or_raise(busy(6))  # 12 s in all would pass the 10 s budget
    assert raised.value.attempts == 2
    assert "not retried: the server asked to wait 6 s, past the retry budget (max_retry_wait_s=10, 6 s already" in str(
        raised.value
    )


def test_one_attempt_means_no_retry_and_no_note() -> None:
    with pytest.raises(RateLimited) as raised:
        RetryPolicy(max_attempts=1).start().wait_or_raise(RateLimited("x", status_code=429, retry_after=1))
    assert raised.value.note == ""


@pytest.mark.parametrize(("attempts", "wait"), [(0, 1.0), (3, -1.0), (3, float("nan"))])
def test_bad_bounds_are_a_configuration_error(attempts: int, wait: float) -> None:
    with pytest.raises(ConfigurationError):
        RetryPolicy(attempts, wait)
