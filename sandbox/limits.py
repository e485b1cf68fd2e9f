"""Turn a request's limits into effective limits: defaults filled in, maxima enforced."""

from __future__ import annotations

from sandbox.config import Settings
from sandbox.errors import RequestRejected
from sandbox.models import EffectiveLimits, Limits

LIMIT_NAMES = tuple(EffectiveLimits.model_fields)


#: The least a run can start with, measured on the engine: under 10 MiB the runner and the interpreter
#: cannot start `print(1)` (8 MiB thrashes into a CPU verdict, under 6 MiB Docker refuses the container),
#: and the runner supervises the program as a second process. Asking for less is a 400 naming the minimum.
MINIMA = {"memory_mb": 16, "processes": 2, "compile_memory_mb": 16}
_WHY = {
    "memory_mb": "MiB a sandbox needs to start a program",
    "processes": "the sandbox's supervisor and the program",
    "compile_memory_mb": "MiB a sandbox needs to start a compiler",
}


def resolve_limits(
    requested: Limits | None,
    settings: Settings,
    policy_defaults: Limits | None = None,
    policy_maxima: Limits | None = None,
) -> EffectiveLimits:
    """Fill unset limits from the policy, then settings; reject any limit above its maximum or
    below its minimum (``MINIMA``).

    The maximum is the server's, lowered by the policy's where it sets one. The
    message names the limit, the value and the maximum, e.g.
    ``wall_time_s=90 exceeds the server maximum 60``.
    """
    requested = requested or Limits()
    values = {}
    for name in LIMIT_NAMES:
        asked = getattr(requested, name)
        maximum = getattr(settings, f"max_{name}")
        where = "server"
        policy_max = getattr(policy_maxima, name) if policy_maxima else None
        if policy_max is not None and policy_max < maximum:
            maximum, where = policy_max, "policy"
        least = MINIMA.get(name)
        if asked is not None and least is not None and asked < least:
            raise RequestRejected(
                f"{name}={_fmt(asked)} is below the minimum {least} ({_WHY[name]})",
                limit=name,
                value=asked,
                minimum=least,
            )
        if asked is not None and asked > maximum:
            raise RequestRejected(
                f"{name}={_fmt(asked)} exceeds the {where} maximum {_fmt(maximum)}",
                limit=name,
                value=asked,
                maximum=maximum,
            )
        default = getattr(policy_defaults, name) if policy_defaults else None
        if default is None:
            default = getattr(settings, name)
        values[name] = asked if asked is not None else min(default, maximum)
    return EffectiveLimits(**values)


def _fmt(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
