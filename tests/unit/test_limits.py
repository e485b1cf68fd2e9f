"""resolve_limits: defaults filled in, lower values kept, anything over a maximum refused."""

from __future__ import annotations

import pytest

from sandbox.config import Settings
from sandbox.errors import RequestRejected
from sandbox.limits import LIMIT_NAMES, MINIMA, resolve_limits
from sandbox.models import EffectiveLimits, Limits


@pytest.fixture
def settings() -> Settings:
    return Settings()


def test_limit_names_cover_every_effective_limit_and_setting(settings: Settings) -> None:
    assert set(LIMIT_NAMES) == set(EffectiveLimits.model_fields) == set(Limits.model_fields)
    for name in LIMIT_NAMES:
        assert hasattr(settings, name) and hasattr(settings, f"max_{name}")


@pytest.mark.parametrize("requested", [None, Limits()])
def test_defaults_filled_in(settings: Settings, requested: Limits | None) -> None:
    limits = resolve_limits(requested, settings)
    assert limits == EffectiveLimits(**{name: getattr(settings, name) for name in LIMIT_NAMES})


def test_defaults_come_from_settings() -> None:
    limits = resolve_limits(None, Settings(wall_time_s=3, memory_mb=100, stdout_bytes=77))
    assert (limits.wall_time_s, limits.memory_mb, limits.stdout_bytes) == (3, 100, 77)


@pytest.mark.parametrize("name", LIMIT_NAMES)
def test_lower_value_kept(settings: Settings, name: str) -> None:
    value = MINIMA.get(name, 1)
    limits = resolve_limits(Limits(**{name: value}), settings)
    assert getattr(limits, name) == value
    for other in LIMIT_NAMES:
        if other != name:
            assert getattr(limits, other) == getattr(settings, other)


@pytest.mark.parametrize("name", LIMIT_NAMES)
def test_value_above_default_but_within_maximum_is_allowed(settings: Settings, name: str) -> None:
    maximum = getattr(settings, f"max_{name}")
    assert getattr(resolve_limits(Limits(**{name: maximum}), settings), name) == maximum


@pytest.mark.parametrize("name", LIMIT_NAMES)
def test_each_limit_above_its_maximum_is_rejected(settings: Settings, name: str) -> None:
    maximum = getattr(settings, f"max_{name}")
    value = maximum + 1
    with pytest.raises(RequestRejected) as caught:
        resolve_limits(Limits(**{name: value}), settings)
    shown_value = f"{value:g}" if isinstance(maximum, float) else str(value)
    shown_max = f"{maximum:g}" if isinstance(maximum, float) else str(maximum)
    assert caught.value.message == f"{name}={shown_value} exceeds the server maximum {shown_max}"
    assert caught.value.details == {"limit": name, "value": value, "maximum": maximum}


def test_message_example_from_the_docstring(settings: Settings) -> None:
    with pytest.raises(RequestRejected, match=r"^wall_time_s=90 exceeds the server maximum 60$"):
        resolve_limits(Limits(wall_time_s=90), settings)
    with pytest.raises(RequestRejected, match=r"^wall_time_s=60.5 exceeds the server maximum 60$"):
        resolve_limits(Limits(wall_time_s=60.5), settings)
    with pytest.raises(RequestRejected, match=r"^memory_mb=4096 exceeds the server maximum 2048$"):
        resolve_limits(Limits(memory_mb=4096), settings)


def test_fractional_wall_time_kept(settings: Settings) -> None:
    assert resolve_limits(Limits(wall_time_s=0.25), settings).wall_time_s == 0.25


def test_maximum_follows_settings() -> None:
    settings = Settings(max_memory_mb=512, memory_mb=128)
    with pytest.raises(RequestRejected, match="memory_mb=513 exceeds the server maximum 512"):
        resolve_limits(Limits(memory_mb=513), settings)


def test_infinite_wall_time_is_rejected(settings: Settings) -> None:
    with pytest.raises(RequestRejected):
        resolve_limits(Limits(wall_time_s=float("inf")), settings)


@pytest.mark.parametrize(("name", "value", "least"), [("memory_mb", 15, 16), ("processes", 1, 2)])
def test_a_limit_below_what_a_run_can_start_with_names_its_minimum(name: str, value: int, least: int) -> None:
    with pytest.raises(RequestRejected, match=f"{name}={value} is below the minimum {least}"):
        resolve_limits(Limits(**{name: value}), Settings())
    assert getattr(resolve_limits(Limits(**{name: least}), Settings()), name) == least
