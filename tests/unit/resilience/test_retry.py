"""The retry policy: transient failures are tried again with jittered backoff, others are not."""

from __future__ import annotations

import itertools
import time

import pytest

from sandbox.errors import DockerFailing, DockerTimeout, DockerUnavailable, EngineError
from sandbox.resilience import RetryPolicy

TRANSIENT = (DockerUnavailable,)


def flaky(failures: list[BaseException], calls: list[float]):
    def fn() -> str:
        calls.append(time.monotonic())
        if failures:
            raise failures.pop(0)
        return "done"

    return fn


def test_a_transient_failure_is_tried_again() -> None:
    calls: list[float] = []
    retried: list[str] = []
    cleaned: list[int] = []
    policy = RetryPolicy(attempts=3, base_s=0.01, max_s=0.02)
    result = policy.call(
        "create a container",
        flaky([DockerUnavailable("no answer")], calls),
        retry_on=TRANSIENT,
        on_retry=lambda action, exc: retried.append(action),
        before_retry=lambda: cleaned.append(1),
    )
    assert result == "done"
    assert len(calls) == 2
    assert retried == ["create a container"]
    assert cleaned == [1]


def test_other_failures_are_not_retried() -> None:
    calls: list[float] = []
    policy = RetryPolicy(attempts=5, base_s=0.01, max_s=0.02)
    with pytest.raises(EngineError):
        policy.call("start", flaky([EngineError("bad limits")], calls), retry_on=TRANSIENT)
    assert len(calls) == 1


def test_gives_up_after_the_attempts_with_the_last_error() -> None:
    calls: list[float] = []
    policy = RetryPolicy(attempts=3, base_s=0.01, max_s=0.02)
    errors = [DockerUnavailable(f"try {n}") for n in range(1, 5)]
    with pytest.raises(DockerUnavailable, match="try 3"):
        policy.call("remove", flaky(errors, calls), retry_on=TRANSIENT)
    assert len(calls) == 3


def test_waits_are_bounded_by_max_and_jittered() -> None:
    calls: list[float] = []
    policy = RetryPolicy(attempts=6, base_s=0.02, max_s=0.03)
    with pytest.raises(DockerUnavailable):
        policy.call("list", flaky([DockerUnavailable("x") for _ in range(6)], calls), retry_on=TRANSIENT)
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert len(gaps) == 5
    assert all(gap < 0.03 + 0.05 for gap in gaps)  # never past max_s (plus scheduling slack)
    assert len({round(gap, 4) for gap in gaps}) > 1  # full jitter: not one fixed wait


def test_a_failure_named_never_is_not_tried_again_even_if_transient() -> None:
    """A timeout is a DockerFailing (transient) but another try would only wait the whole timeout again."""
    calls: list[float] = []
    policy = RetryPolicy(attempts=3, base_s=0.01, max_s=0.02)
    with pytest.raises(DockerTimeout):
        policy.call(
            "create",
            flaky([DockerTimeout("no answer in time")], calls),
            retry_on=(DockerFailing,),
            never=(DockerTimeout,),
        )
    assert len(calls) == 1
    assert policy.call(
        "create", flaky([DockerFailing("503")], calls), retry_on=(DockerFailing,), never=(DockerTimeout,)
    )
    assert len(calls) == 3  # the 503 was tried again
