"""How big each warm pool should be, and when its refills may run: no Docker, no asyncio tasks.

A fixed pool cannot keep up with a sustained load: it drains faster than it refills and about
half the runs go cold. So each pool has a ``Demand``: a target between a minimum and a maximum
that grows by one on every miss (a run found the pool empty) and shrinks when a whole period
(``shrink_after_s``) went by without a miss while some containers stayed unused all along (the
pool's low-water mark): it gives back half of those at a time, so an idle pool decays to its
minimum in a few periods and a busy one keeps what it uses.

The pools of one backend share a cap on warm containers (``fair_shares``): each gets its
minimum first, then the rest is split max-min fairly (no pool ends with more than another
that wants more), so a busy language cannot take the capacity another one needs.

A refill competes with the runs for two cores: ``RefillGate`` holds a creation back while runs
are starting (a take in the last ``holdoff_s``), at most ``max_defer_s``, so it cannot starve.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sandbox.config import Settings

#: Takes remembered for a pool's recent hit ratio.
RECENT_TAKES = 64


@dataclass(frozen=True)
class Bounds:
    """A pool's target stays within [minimum, maximum]."""

    minimum: int
    maximum: int

    def __post_init__(self) -> None:
        if not 0 <= self.minimum <= self.maximum:
            raise ValueError(f"pool bounds need 0 <= minimum <= maximum, got {self.minimum}..{self.maximum}")

    @classmethod
    def between(cls, minimum: int, maximum: int) -> Bounds:
        """From the settings' minimum and maximum: a maximum below the minimum is raised to it (a
        ``pool_size`` above ``pool_max`` keeps working as the fixed pool it used to be)."""
        return cls(minimum, max(minimum, maximum))


def language_bounds(settings: Settings, canonical: Callable[[str], str]) -> dict[str, Bounds]:
    """The languages that get a standing pool, with its bounds: ``pool_languages`` from ``pool_size`` to
    ``pool_max``, ``pool_overrides`` over them (``canonical`` turns an alias into the language's name)."""
    low = settings.pool_size
    plan = {canonical(name): Bounds.between(low, settings.pool_max) for name in settings.pool_languages}
    for name, bounds in settings.pool_overrides.items():
        plan[canonical(name)] = Bounds(bounds.minimum, bounds.maximum)
    return plan


class Demand:
    """One pool's wanted size, from its misses and its unused containers (see the module docstring).

    ``wanted`` is what the pool's own traffic asks for; ``share`` is what the shared cap leaves it
    (``fair_shares`` sets it; None: no cap); ``target``, what it keeps, is the smaller of the two.
    """

    def __init__(self, bounds: Bounds, *, shrink_after_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.bounds = bounds
        self.shrink_after_s = shrink_after_s
        self._clock = clock
        self.wanted = bounds.minimum
        self.share: int | None = None
        self.last_used = clock()
        self._period_started = self.last_used
        self._missed = False
        self._low: int | None = None  # fewest ready containers seen this period
        self._recent: deque[bool] = deque(maxlen=RECENT_TAKES)

    @property
    def target(self) -> int:
        """How many ready containers the pool keeps now."""
        return self.wanted if self.share is None else min(self.wanted, self.share)

    @classmethod
    def fixed(cls, size: int) -> Demand:
        """A pool that keeps ``size`` whatever happens."""
        return cls(Bounds(size, size), shrink_after_s=float("inf"))

    def hit(self, ready_left: int) -> None:
        """A run took a container; ``ready_left`` remain."""
        self._recent.append(True)
        self.last_used = self._clock()
        self.observe(ready_left)

    def miss(self) -> bool:
        """A run found the pool empty: want one more. True if ``wanted`` grew."""
        self._recent.append(False)
        self.last_used = self._clock()
        self._missed = True
        self._low = 0
        if self.wanted < self.bounds.maximum:
            self.wanted += 1
            return True
        return False

    def observe(self, ready: int) -> None:
        """The pool holds ``ready`` containers now (called on every take and refill-loop turn)."""
        self._low = ready if self._low is None else min(self._low, ready)

    def tick(self) -> bool:
        """Close the period if it is over: shrink by half the containers nobody used. True if it shrank."""
        now = self._clock()
        if now - self._period_started < self.shrink_after_s:
            return False
        spare = 0 if self._missed or self._low is None else self._low
        self._period_started, self._missed, self._low = now, False, None
        if spare <= 0 or self.wanted <= self.bounds.minimum:
            return False
        self.wanted = max(self.bounds.minimum, self.wanted - max(1, spare // 2))
        return True

    def idle_for(self) -> float:
        """Seconds since a run last came to this pool."""
        return self._clock() - self.last_used

    @property
    def hit_ratio(self) -> float | None:
        """Hits among the last ``RECENT_TAKES`` takes; None before the first."""
        return sum(self._recent) / len(self._recent) if self._recent else None


def fair_shares(demands: Sequence[Demand], capacity: int) -> None:
    """Set each demand's ``share`` of ``capacity``, max-min fairly: every pool first gets its minimum
    (the smallest minimums first if even those do not fit), then one container at a time goes to the
    pool that has the fewest among those that want more. No pool ends with less than another unless it
    wants no more: a busy pool cannot take what a quieter one asks for."""
    shares = [0] * len(demands)
    left = max(capacity, 0)
    for index in sorted(range(len(demands)), key=lambda i: demands[i].bounds.minimum):
        shares[index] = min(demands[index].bounds.minimum, left)
        left -= shares[index]
    hungry = [i for i, demand in enumerate(demands) if demand.wanted > shares[i]]
    while left > 0 and hungry:
        index = min(hungry, key=shares.__getitem__)
        shares[index] += 1
        left -= 1
        if shares[index] >= demands[index].wanted:
            hungry.remove(index)
    for demand, share in zip(demands, shares, strict=True):
        demand.share = share


class RefillGate:
    """Lets refill creations start only when no run has started for ``holdoff_s`` (at most ``max_defer_s``
    late): a creation costs ~200 ms of dockerd, containerd and runc CPU, and a run that starts meanwhile
    would share the two cores with it."""

    def __init__(self, holdoff_s: float, max_defer_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.holdoff_s = holdoff_s
        self.max_defer_s = max_defer_s
        self._clock = clock
        self._last_run = float("-inf")

    def run_started(self) -> None:
        """A run took (or missed) a warm container: request work is under way."""
        self._last_run = self._clock()

    def delay(self, waited_s: float) -> float:
        """How much longer a refill that has waited ``waited_s`` should wait (0: go)."""
        if self.holdoff_s <= 0:
            return 0.0
        quiet_in = self._last_run + self.holdoff_s - self._clock()
        return max(0.0, min(quiet_in, self.max_defer_s - waited_s))
