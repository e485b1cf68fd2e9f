"""The pool sizing policy: demand from misses and unused containers, fair shares of the cap, the refill gate."""

from __future__ import annotations

import pytest

from sandbox.engine.sizing import Bounds, Demand, RefillGate, fair_shares


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def demand(minimum: int, maximum: int, clock: Clock | None = None, shrink_after_s: float = 10.0) -> Demand:
    return Demand(Bounds(minimum, maximum), shrink_after_s=shrink_after_s, clock=clock or Clock())


def test_bounds_are_checked_and_between_raises_the_maximum_to_the_minimum() -> None:
    with pytest.raises(ValueError, match="minimum <= maximum"):
        Bounds(5, 2)
    with pytest.raises(ValueError):
        Bounds(-1, 2)
    assert Bounds.between(6, 4) == Bounds(6, 6)  # an old pool_size above pool_max keeps its fixed pool
    assert Bounds.between(2, 8) == Bounds(2, 8)


def test_each_miss_wants_one_more_up_to_the_maximum() -> None:
    d = demand(2, 4)
    assert d.wanted == d.target == 2
    assert [d.miss() for _ in range(4)] == [True, True, False, False]
    assert d.wanted == 4
    d.hit(ready_left=0)
    assert d.wanted == 4, "a hit is no reason to grow"
    assert d.hit_ratio == pytest.approx(1 / 5)


def test_a_period_with_spare_containers_gives_back_half_of_them() -> None:
    clock = Clock()
    d = demand(1, 12, clock)
    for _ in range(9):
        d.miss()
    assert d.wanted == 10
    assert d.tick() is False and d.wanted == 10  # the period is not over yet
    clock.now += 10
    assert d.tick() is False, "a period with misses keeps what it has"
    d.observe(6)
    d.hit(ready_left=4)  # the fewest ready this period: 4 never used
    d.observe(7)
    clock.now += 10
    assert d.tick() is True and d.wanted == 8
    # Idle: every period gives back half of the spare, down to the minimum and no further.
    wanted = []
    for _ in range(6):
        d.observe(d.wanted)
        clock.now += 10
        d.tick()
        wanted.append(d.wanted)
    assert wanted == [4, 2, 1, 1, 1, 1]


def test_a_busy_period_without_spare_keeps_the_target() -> None:
    clock = Clock()
    d = demand(0, 8, clock)
    for _ in range(5):
        d.miss()
    clock.now += 10
    d.tick()
    d.hit(ready_left=0)  # drained to nothing at some point: nothing was spare
    d.observe(3)
    clock.now += 10
    assert d.tick() is False and d.wanted == 5


def test_a_fixed_demand_never_moves() -> None:
    d = Demand.fixed(3)
    d.miss()
    d.observe(3)
    assert d.tick() is False and (d.wanted, d.target) == (3, 3)


def test_the_target_follows_the_wanted_size_within_its_share() -> None:
    d = demand(1, 8)
    d.miss()
    assert d.target == 2, "alone (no cap), the target is what it wants"
    fair_shares([d], 1)
    assert d.target == 1
    d.miss()
    assert (d.wanted, d.target) == (3, 1), "a miss does not overstep the share until it is shared again"
    fair_shares([d], 16)
    assert d.target == 3


def shares(specs: list[tuple[int, int, int]], capacity: int) -> list[int]:
    """(minimum, maximum, wanted) per pool -> their targets."""
    demands = []
    for minimum, maximum, wanted in specs:
        d = demand(minimum, maximum)
        d.wanted = wanted
        demands.append(d)
    fair_shares(demands, capacity)
    assert all(d.target == d.share for d in demands), "a share is never more than wanted"
    return [d.target for d in demands]


def test_fair_shares_meet_everything_under_the_cap() -> None:
    assert shares([(2, 12, 5), (1, 4, 3)], 16) == [5, 3]


def test_a_busy_pool_cannot_take_what_a_quiet_one_asks_for() -> None:
    # python wants 12, javascript 4, the cap is 10: javascript gets all it asks, python the rest.
    assert shares([(4, 12, 12), (0, 8, 4)], 10) == [6, 4]
    # Both want more than half: an even split, minimums included.
    assert shares([(4, 12, 12), (0, 12, 12)], 10) == [5, 5]
    # Three pools: the one that wants little gets it; the other two split the rest.
    assert shares([(0, 12, 12), (0, 12, 1), (0, 12, 12)], 9) == [4, 1, 4]


def test_minimums_come_first_even_past_a_fair_split() -> None:
    assert shares([(6, 12, 12), (0, 12, 12)], 8) == [6, 2]
    # Minimums that do not fit: the smallest are met first, nothing past the cap.
    assert shares([(3, 3, 3), (2, 2, 2)], 4) == [2, 2]
    assert shares([(1, 1, 1)], 0) == [0]


def test_the_refill_gate_holds_creations_while_runs_start_but_never_for_long() -> None:
    clock = Clock()
    gate = RefillGate(0.05, max_defer_s=0.2, clock=clock)
    assert gate.delay(0.0) == 0.0, "no run yet: go"
    gate.run_started()
    assert gate.delay(0.0) == pytest.approx(0.05)
    clock.now += 0.03
    assert gate.delay(0.03) == pytest.approx(0.02)
    clock.now += 0.02
    assert gate.delay(0.05) == 0.0
    # Runs that keep starting cannot starve it: after max_defer_s in all it goes.
    for waited in (0.05, 0.1, 0.15):
        gate.run_started()
        assert gate.delay(waited) > 0
    gate.run_started()
    assert gate.delay(0.2) == 0.0
    assert RefillGate(0.0, 0.0, clock=clock).delay(0.0) == 0.0
