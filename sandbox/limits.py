"""Turn a request's limits into effective limits: defaults filled in, maxima enforced."""

from __future__ import annotations

from sandbox.config import Settings
from sandbox.errors import RequestRejected
from sandbox.models import EffectiveLimits, Limits

LIMIT_NAMES = tuple(EffectiveLimits.model_fields)


def resolve_limits(requested: Limits | None, settings: Settings) -> EffectiveLimits:
    """Fill unset limits from settings; reject any limit above its server maximum.

    The message names the limit, the value and the maximum, e.g.
    ``wall_time_s=90 exceeds the server maximum 60``.
    """
    requested = requested or Limits()
    values = {}
    for name in LIMIT_NAMES:
        asked = getattr(requested, name)
        maximum = getattr(settings, f"max_{name}")
        if asked is not None and asked > maximum:
            raise RequestRejected(
                f"{name}={_fmt(asked)} exceeds the server maximum {_fmt(maximum)}",
                limit=name,
                value=asked,
                maximum=maximum,
            )
        values[name] = asked if asked is not None else getattr(settings, name)
    return EffectiveLimits(**values)


def _fmt(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
