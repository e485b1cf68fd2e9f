"""Prometheus metrics (``sandbox_*``): every figure the service exports, declared once.

The functions below are what the rest of the service calls; they know nothing
about Docker or HTTP, only names, numbers and bounded label values:

- ``stage_finished`` is called by the stage hook (``context.stage``) for every
  stage of every execution, one-shot runs and session cells alike; the stage
  that ends an execution (``record``, or a refusal at ``admit``/``validate``)
  counts it in ``sandbox_executions_total``;
- ``queue_waited`` by the execution slot, ``validated`` by validation;
- ``breaker_changed``, ``engine_error``, ``engine_retry``, ``container_created``,
  ``container_removed`` and ``janitor_removed`` by the breaker, the retry policy
  and the engine;
- ``pool_observed`` and ``session_opened``/``session_closed`` by ``MeteredBackend``;
- ``http_request`` by the REST app's ASGI middleware.

With several worker processes (``sandbox serve --workers N``) prometheus-client's
multiprocess mode is on (``PROMETHEUS_MULTIPROC_DIR``, set before the workers
start): each process writes its values to files there and a scrape sums them,
so the figures are whole whichever worker answers (see ``exposition``).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from prometheus_client import Counter, Gauge, Histogram

#: Breaker states as the gauge shows them: the higher, the worse (max across workers is the alert).
BREAKER_STATES = {"closed": 0, "half_open": 1, "open": 2}
#: Latency buckets (seconds): sub-millisecond stages up to the longest wall limit.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
#: A label value the service does not know (a client-chosen language, policy or path) becomes this.
OTHER = "other"

EXECUTIONS = Counter(
    "sandbox_executions_total",
    "Finished executions (one-shot runs and session cells, refusals included) by language, status and policy.",
    ["language", "status", "policy"],
)
STAGE_SECONDS = Histogram(
    "sandbox_stage_duration_seconds",
    "Time spent in each stage of an execution (admit, validate, acquire, run, record).",
    ["stage", "language"],
    buckets=LATENCY_BUCKETS,
)
QUEUE_WAIT_SECONDS = Histogram(
    "sandbox_queue_wait_seconds",
    "Time an execution (or session cell) waited for an execution slot.",
    buckets=LATENCY_BUCKETS,
)
VALIDATIONS = Counter(
    "sandbox_validations_total",
    "Validation verdicts (allowed, rejected, syntax_error), cached ones included.",
    ["verdict"],
)
VALIDATION_CACHE_HITS = Counter("sandbox_validation_cache_hits_total", "Validations answered from the verdict cache.")
POOL_READY = Gauge("sandbox_pool_ready", "Warm containers ready to take.", ["pool"], multiprocess_mode="livesum")
POOL_SIZE = Gauge("sandbox_pool_size", "Warm containers each pool keeps.", ["pool"], multiprocess_mode="livesum")
POOL_HITS = Counter("sandbox_pool_hits_total", "Runs that took a warm container.", ["pool"])
POOL_MISSES = Counter("sandbox_pool_misses_total", "Runs that found their pool empty.", ["pool"])
POOL_CREATES = Counter("sandbox_pool_creates_total", "Warm containers created to fill a pool.", ["pool"])
POOL_CREATE_FAILURES = Counter("sandbox_pool_create_failures_total", "Warm container creations that failed.", ["pool"])
COLD_CREATES = Counter(
    "sandbox_cold_creates_total",
    "Containers created on a run's own path (pool empty, stale warm container, or limits no pool serves).",
    ["pool"],
)
BREAKER_STATE = Gauge(
    "sandbox_breaker_state",
    "Engine circuit breaker: 0 closed, 1 half-open, 2 open (the worst worker).",
    multiprocess_mode="livemax",
)
BREAKER_TRANSITIONS = Counter(
    "sandbox_breaker_transitions_total", "Circuit breaker state changes.", ["from_state", "to_state"]
)
ENGINE_ERRORS = Counter("sandbox_engine_errors_total", "Failed container-engine calls by kind.", ["kind"])
ENGINE_RETRIES = Counter("sandbox_engine_retries_total", "Retried container-engine calls by action.", ["action"])
CONTAINERS_LIVE = Gauge(
    "sandbox_containers_live",
    "Containers this service created and has not removed yet (warm, running, sessions).",
    multiprocess_mode="livesum",
)
JANITOR_REMOVED = Counter(
    "sandbox_janitor_removed_total", "Leftover containers the janitor removed, by reason.", ["reason"]
)
SESSIONS_OPEN = Gauge("sandbox_sessions_open", "Open sessions.", multiprocess_mode="livesum")
HTTP_REQUESTS = Counter(
    "sandbox_http_requests_total",
    "HTTP requests by method, route template and status code.",
    ["method", "route", "code"],
)
HTTP_SECONDS = Histogram(
    "sandbox_http_request_duration_seconds",
    "HTTP request latency by route template (until the response is complete).",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)

# ------------------------------------------------ called by the breaker, retries, engine, janitor


def breaker_changed(old: str, new: str) -> None:
    """The engine breaker went from ``old`` to ``new`` (``closed``, ``half_open``, ``open``)."""
    BREAKER_STATE.set(BREAKER_STATES.get(new, BREAKER_STATES["open"]))
    BREAKER_TRANSITIONS.labels(_state(old), _state(new)).inc()


def engine_error(kind: str) -> None:
    """One failed engine call; ``kind`` is a short fixed word (``unavailable``, ``create``, ``timeout``...)."""
    ENGINE_ERRORS.labels(kind).inc()


def engine_retry(action: str) -> None:
    """One retry of a safe engine call (``create``, ``start``, ``remove``)."""
    ENGINE_RETRIES.labels(action).inc()


def container_created() -> None:
    """A container of ours exists now (warm, cold or a session's)."""
    CONTAINERS_LIVE.inc()


def container_removed() -> None:
    """A container this process created is gone."""
    CONTAINERS_LIVE.dec()


def janitor_removed(reason: str, count: int) -> None:
    """The janitor removed ``count`` leftovers (``reason``: ``expired``, ``orphaned``...)."""
    if count > 0:
        JANITOR_REMOVED.labels(reason).inc(count)


def _state(name: str) -> str:
    return name if name in BREAKER_STATES else OTHER


def multiprocess_dir() -> str | None:
    """The multiprocess directory in force, if any.

    prometheus-client reads ``PROMETHEUS_MULTIPROC_DIR`` itself when it is first
    imported and chooses where values live; this only asks which way it went.
    """
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


_refreshers: list[Callable[[], None]] = []
