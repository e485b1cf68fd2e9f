"""The circuit breaker's states and transitions, on a clock the test moves."""

from __future__ import annotations

import pytest

from sandbox.errors import CircuitOpen, DockerUnavailable, RequestRejected
from sandbox.resilience import BreakerState, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def transitions() -> list[tuple[str, str]]:
    return []


@pytest.fixture
def breaker(clock: Clock, transitions: list[tuple[str, str]]) -> CircuitBreaker:
    return CircuitBreaker(
        "engine",
        failures=3,
        open_s=2.0,
        probes=1,
        clock=clock,
        on_change=lambda o, n: transitions.append((o.value, n.value)),
    )


COUNTS = (DockerUnavailable,)


def fail(breaker: CircuitBreaker, exc: BaseException | None = None) -> None:
    with pytest.raises(type(exc or DockerUnavailable("down"))), breaker.guard(COUNTS):
        raise exc or DockerUnavailable("the engine does not answer")


def succeed(breaker: CircuitBreaker) -> None:
    with breaker.guard(COUNTS):
        pass


def test_opens_after_the_threshold_of_failures_in_a_row(breaker: CircuitBreaker, transitions) -> None:
    fail(breaker)
    fail(breaker)
    assert breaker.state is BreakerState.CLOSED
    fail(breaker)
    assert breaker.state is BreakerState.OPEN
    assert transitions == [("closed", "open")]


def test_a_success_resets_the_count(breaker: CircuitBreaker) -> None:
    fail(breaker)
    fail(breaker)
    succeed(breaker)
    fail(breaker)
    fail(breaker)
    assert breaker.state is BreakerState.CLOSED


def test_exceptions_it_does_not_count_say_nothing(breaker: CircuitBreaker) -> None:
    for _ in range(10):
        fail(breaker, RequestRejected("memory_mb=1 is below the engine's minimum"))
    assert breaker.state is BreakerState.CLOSED


def test_open_refuses_at_once_with_retry_after(breaker: CircuitBreaker, clock: Clock) -> None:
    for _ in range(3):
        fail(breaker)
    clock.now += 0.5
    ran = False
    with pytest.raises(CircuitOpen) as refused, breaker.guard(COUNTS):
        ran = True
    assert not ran
    assert refused.value.retry_after_s == 2  # 1.5 s left, rounded up
    assert "does not answer" in refused.value.message
    with pytest.raises(CircuitOpen):
        breaker.check()


def test_half_open_after_the_interval_and_a_success_closes(breaker, clock: Clock, transitions) -> None:
    for _ in range(3):
        fail(breaker)
    clock.now += 2.0
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.check()  # half-open lets calls be tried
    succeed(breaker)
    assert breaker.state is BreakerState.CLOSED
    assert transitions == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]


def test_a_failed_probe_opens_again_for_a_full_interval(breaker, clock: Clock) -> None:
    for _ in range(3):
        fail(breaker)
    clock.now += 2.0
    fail(breaker)
    assert breaker.state is BreakerState.OPEN
    clock.now += 1.9
    assert breaker.state is BreakerState.OPEN
    clock.now += 0.1
    assert breaker.state is BreakerState.HALF_OPEN


def test_half_open_lets_only_the_probes_through(breaker, clock: Clock) -> None:
    for _ in range(3):
        fail(breaker)
    clock.now += 2.0
    # The one probe still running; a second call is refused meanwhile.
    with breaker.guard(COUNTS), pytest.raises(CircuitOpen), breaker.guard(COUNTS):
        pass
    assert breaker.state is BreakerState.CLOSED


def test_a_probe_that_ends_without_a_verdict_frees_its_slot(breaker, clock: Clock) -> None:
    for _ in range(3):
        fail(breaker)
    clock.now += 2.0
    fail(breaker, RequestRejected("the caller's mistake"))
    assert breaker.state is BreakerState.HALF_OPEN
    succeed(breaker)  # the slot was given back
    assert breaker.state is BreakerState.CLOSED


def test_a_failing_listener_does_not_break_the_breaker(clock: Clock) -> None:
    def boom(old: BreakerState, new: BreakerState) -> None:
        raise RuntimeError("listener bug")

    breaker = CircuitBreaker("engine", failures=1, open_s=1.0, clock=clock, on_change=boom)
    fail(breaker)
    assert breaker.state is BreakerState.OPEN


def test_a_late_success_of_a_call_admitted_before_it_opened_does_not_close_it(breaker, clock: Clock) -> None:
    with breaker.guard(COUNTS):  # admitted while closed; the engine goes away while it runs
        for _ in range(3):
            fail(breaker)
        assert breaker.state is BreakerState.OPEN
    assert breaker.state is BreakerState.OPEN  # its success is old news
    clock.now += 2.0
    succeed(breaker)  # the probe
    assert breaker.state is BreakerState.CLOSED
    with breaker.guard(COUNTS):  # admitted while closed, still running when the breaker turns half-open
        for _ in range(3):
            fail(breaker)
        clock.now += 2.0
        assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.state is BreakerState.HALF_OPEN  # not a probe: the probe decides
    succeed(breaker)
    assert breaker.state is BreakerState.CLOSED


def test_a_call_that_does_not_settle_leaves_the_count_to_the_rest_of_the_work(breaker, clock: Clock) -> None:
    """Getting a container succeeds, the run then fails because the engine went away: that is a failure."""
    for _ in range(3):
        with breaker.guard(COUNTS, settles=False):
            pass
        breaker.failed(DockerUnavailable("lost the container's connection"))
    assert breaker.state is BreakerState.OPEN
    clock.now += 2.0
    with breaker.guard(COUNTS, settles=False):  # a probe's acquisition closes it at once
        pass
    assert breaker.state is BreakerState.CLOSED
    fail(breaker)
    fail(breaker)
    breaker.succeeded()  # a whole run went well: the failures in a row start again
    fail(breaker)
    fail(breaker)
    assert breaker.state is BreakerState.CLOSED
