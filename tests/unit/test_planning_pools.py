"""Which languages get a warm pool at start, with which bounds (``Planner.pool_bounds``): no Docker."""

from __future__ import annotations

import pytest

from sandbox.config import PROJECT_ROOT, PoolBounds, Settings
from sandbox.engine import Bounds, ImageCatalog
from sandbox.planning import Planner
from sandbox.validation import PolicySet

CATALOG = ImageCatalog(PROJECT_ROOT / "images")


def bounds(**settings: object) -> dict[str, Bounds]:
    config = Settings(**settings)  # type: ignore[arg-type]
    return Planner(config, CATALOG, PolicySet(config.policies_dir, config.default_policy)).pool_bounds()


def test_pool_languages_get_pool_size_to_pool_max() -> None:
    assert bounds() == {"python": Bounds(4, 12)}
    assert bounds(pool_size=2, pool_max=6, pool_languages=["python", "bash"]) == {
        "python": Bounds(2, 6),
        "bash": Bounds(2, 6),
    }


def test_a_pool_size_above_pool_max_keeps_its_fixed_pool() -> None:
    assert bounds(pool_size=20, pool_max=12) == {"python": Bounds(20, 20)}


def test_overrides_win_and_may_add_a_language_that_fills_on_demand() -> None:
    overrides = {"python": PoolBounds(min=1, max=8), "javascript": PoolBounds(max=3)}
    assert bounds(pool_overrides=overrides) == {"python": Bounds(1, 8), "javascript": Bounds(0, 3)}


def test_an_override_for_an_unknown_language_fails_at_start_naming_the_setting() -> None:
    named = r"SANDBOX_POOL_OVERRIDES or SANDBOX_POOL_LANGUAGES: unknown language 'cobol'; available: "
    with pytest.raises(ValueError, match=named):
        bounds(pool_overrides={"cobol": PoolBounds(max=2)})
