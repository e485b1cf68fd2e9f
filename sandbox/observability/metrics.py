"""Prometheus metrics (``sandbox_*``): every figure the service exports, declared once.

The functions below are what the rest of the service calls; they know nothing
about Docker or HTTP, only names, numbers and bounded label values:

- ``stage_finished`` is called by the stage hook (``context.stage``) for every
  stage of every execution, one-shot runs and session cells alike; the stage
  that ends an execution (``record``, or a refusal at ``admit``/``validate``)
  counts it in ``sandbox_executions_total``;
- ``queue_waited`` and ``cold_created`` by ``DockerBackend``; ``validated`` and
  ``known_names`` by the service;
- ``breaker_changed``, ``engine_error``, ``engine_retry``, ``container_created``,
  ``container_removed`` and ``janitor_removed`` by the breaker, the retry policy
  and the engine;
- ``pool_observed``, ``run_started``/``run_ended`` and ``session_opened``/``session_closed``
  by ``MeteredBackend``;
- ``http_request`` by the REST app's ASGI middleware.

With several worker processes (``sandbox serve --workers N``) prometheus-client's
multiprocess mode is on (``PROMETHEUS_MULTIPROC_DIR``, set before the workers
start): each process writes its values to files there and a scrape sums them,
so the figures are whole whichever worker answers (see ``exposition``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import prometheus_client
from prometheus_client import Counter, Gauge, Histogram

# The `_created` timestamp series double what a scrape carries and no panel or rule reads them.
_disable_created: Callable[[], None] = prometheus_client.disable_created_metrics  # untyped in the library
_disable_created()

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
RESULT_CACHE_LOOKUPS = Counter(
    "sandbox_result_cache_lookups_total",
    "Result cache lookups of requests that asked for it (cache: true): hit, miss, or bypass (the cache is off "
    "or its store unreachable: the run goes on uncached). Hit ratio: hit over the sum.",
    ["outcome"],
)
RESULT_CACHE_STORES = Counter(
    "sandbox_result_cache_stores_total",
    "Results offered to the cache after a miss: stored, skipped (not the program's own verdict, artifacts, too "
    "large), bypass (cache off or paused) or failed (its store unreachable).",
    ["outcome"],
)
RESULT_CACHE_ENTRIES = Gauge(
    "sandbox_result_cache_entries", "Results held in this process's memory cache.", multiprocess_mode="livesum"
)
RESULT_CACHE_BYTES = Gauge(
    "sandbox_result_cache_bytes", "Bytes held in this process's memory cache.", multiprocess_mode="livesum"
)
#: The label values of the two counters, all created at start: a ratio over them is defined from the first scrape.
RESULT_CACHE_LOOKUP_OUTCOMES = ("hit", "miss", "bypass")
RESULT_CACHE_STORE_OUTCOMES = ("stored", "skipped", "bypass", "failed")
for _outcome in RESULT_CACHE_LOOKUP_OUTCOMES:
    RESULT_CACHE_LOOKUPS.labels(_outcome)
for _outcome in RESULT_CACHE_STORE_OUTCOMES:
    RESULT_CACHE_STORES.labels(_outcome)
POOL_READY = Gauge("sandbox_pool_ready", "Warm containers ready to take.", ["pool"], multiprocess_mode="livesum")
POOL_TARGET = Gauge(
    "sandbox_pool_target",
    "Warm containers each pool aims at now (it grows on misses, shrinks when idle, within its bounds and share).",
    ["pool"],
    multiprocess_mode="livesum",
)
POOL_HIT_RATIO = Gauge(
    "sandbox_pool_hit_ratio",
    "Hits among each pool's last 64 takes (the lowest of the worker processes); the counters give any window.",
    ["pool"],
    multiprocess_mode="livemin",
)
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
RUNNING = Gauge(
    "sandbox_executions_running",
    "One-shot executions holding a container now (a session's cells run in the session's container).",
    multiprocess_mode="livesum",
)
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

#: Label values known in advance get their series at start (at 0): a rule or panel sees "none yet", not "no data".
_KNOWN_SERIES = (
    (BREAKER_TRANSITIONS, (("closed", "open"), ("open", "half_open"), ("half_open", "closed"), ("half_open", "open"))),
    (ENGINE_ERRORS, (("unavailable",), ("failing",), ("timeout",), ("error",))),
    (ENGINE_RETRIES, (("create",), ("attach",), ("start",), ("remove",), ("list",))),
    (JANITOR_REMOVED, (("expired",), ("orphaned",), ("dead",))),
    (COLD_CREATES, (("unpooled",),)),
)
for _metric, _label_sets in _KNOWN_SERIES:
    for _labels in _label_sets:
        _metric.labels(*_labels)

_enabled = True
#: Labelled children of the per-request metrics, by metric and label values. ``labels()`` checks
#: and locks on every call (a few microseconds, ten times a request); a child never changes, and
#: the label values are bounded (names the service knows, route templates, status codes).
_children: dict[tuple[object, tuple[str, ...]], Any] = {}


def _child(metric: Any, *values: str) -> Any:
    key = (metric, values)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*values)
    return child


def enable(on: bool) -> None:
    """Collect (the default) or not (``SANDBOX_METRICS=false``: every call below returns at once)."""
    global _enabled
    _enabled = on


def enabled() -> bool:
    return _enabled


# ------------------------------------------------ called by the breaker, retries, engine, janitor


def breaker_changed(old: str, new: str) -> None:
    """The engine breaker went from ``old`` to ``new`` (``closed``, ``half_open``, ``open``)."""
    if not _enabled:
        return
    BREAKER_STATE.set(BREAKER_STATES.get(new, BREAKER_STATES["open"]))
    BREAKER_TRANSITIONS.labels(_state(old), _state(new)).inc()


def engine_error(kind: str) -> None:
    """One failed engine call; ``kind`` is a short fixed word (``unavailable``, ``create``, ``timeout``...)."""
    if not _enabled:
        return
    ENGINE_ERRORS.labels(kind).inc()


def engine_retry(action: str) -> None:
    """One retry of a safe engine call (``create``, ``start``, ``remove``)."""
    if not _enabled:
        return
    ENGINE_RETRIES.labels(action).inc()


def container_created() -> None:
    """A container of ours exists now (warm, cold or a session's)."""
    if not _enabled:
        return
    CONTAINERS_LIVE.inc()


def container_removed() -> None:
    """A container this process created is gone."""
    if not _enabled:
        return
    CONTAINERS_LIVE.dec()


def janitor_removed(reason: str, count: int) -> None:
    """The janitor removed ``count`` leftovers (``reason``: ``expired``, ``orphaned``...)."""
    if not _enabled:
        return
    if count > 0:
        JANITOR_REMOVED.labels(reason).inc(count)


def _state(name: str) -> str:
    return name if name in BREAKER_STATES else OTHER


# ---------------------------------------------------------------- the stages of an execution

#: Stages whose refusal (a ``SandboxError`` out of the stage) ends the execution; the rest end at ``record``.
REFUSING_STAGES = frozenset({"admit", "validate"})
_languages: dict[str, str] = {}  # every name or alias the service knows -> the language's name
_policies: set[str] = set()


def known_names(languages: Mapping[str, str], policies: Iterable[str]) -> None:
    """The language names (alias -> name) and policy names a label may carry; anything else is ``other``.

    A request names its language and policy itself: without this, a client could
    grow a label set (and the server's memory) one made-up name at a time.
    """
    _languages.update({alias.lower(): name for alias, name in languages.items()})
    _policies.update(policies)


def stage_finished(name: str, language: str | None, policy: str | None, outcome: Mapping[str, Any]) -> None:
    """One stage of one execution ended (the stage hook calls this for every stage).

    ``outcome`` holds ``duration_s``, ``status`` (set by the stage that ends the
    execution: ``record``) and ``error`` (what the stage raised, if anything).
    """
    if not _enabled:
        return
    lang = _languages.get(language.lower(), OTHER) if language else OTHER
    _child(STAGE_SECONDS, name, lang).observe(outcome["duration_s"])
    status = outcome.get("status")
    if status is None and name in REFUSING_STAGES:
        refusal = getattr(outcome.get("error"), "status", None)  # a SandboxError's status; None otherwise
        status = getattr(refusal, "value", None)
    if status is not None and (name == "record" or name in REFUSING_STAGES):
        _child(EXECUTIONS, lang, str(status), policy if policy in _policies else OTHER).inc()


def queue_waited(seconds: float) -> None:
    """An execution (or a session cell) waited ``seconds`` for its execution slot (or gave up)."""
    if not _enabled:
        return
    QUEUE_WAIT_SECONDS.observe(seconds)


def validated(verdict: str, *, cached: bool) -> None:
    """One validation verdict (``ok``, ``validation_rejected``, ``syntax_error``); ``cached``: from the cache."""
    if not _enabled:
        return
    _child(VALIDATIONS, verdict).inc()
    if cached:
        VALIDATION_CACHE_HITS.inc()


# ---------------------------------------------------------------------------- result cache


def result_cache_lookup(outcome: str) -> None:
    """A request with ``cache: true`` looked up its result: ``hit``, ``miss`` or ``bypass``."""
    if not _enabled:
        return
    RESULT_CACHE_LOOKUPS.labels(outcome if outcome in RESULT_CACHE_LOOKUP_OUTCOMES else OTHER).inc()


def result_cache_store(outcome: str) -> None:
    """A missed run's result was offered to the cache: ``stored``, ``skipped``, ``bypass`` or ``failed``."""
    if not _enabled:
        return
    RESULT_CACHE_STORES.labels(outcome if outcome in RESULT_CACHE_STORE_OUTCOMES else OTHER).inc()


def result_cache_held(entries: int, size: int) -> None:
    """What this process's memory cache holds now."""
    if not _enabled:
        return
    RESULT_CACHE_ENTRIES.set(entries)
    RESULT_CACHE_BYTES.set(size)


# -------------------------------------------------------------------- pools and sessions

_pool_totals: dict[str, tuple[int, ...]] = {}
_POOL_COUNTERS = (POOL_HITS, POOL_MISSES, POOL_CREATES, POOL_CREATE_FAILURES)


def pool_observed(
    name: str,
    *,
    ready: int,
    target: int,
    hits: int,
    misses: int,
    created: int,
    failures: int,
    hit_ratio: float | None = None,
) -> None:
    """A pool's figures as it reports them (running totals); its counters grow by what is new since last time."""
    if not _enabled:
        return
    POOL_READY.labels(name).set(ready)
    POOL_TARGET.labels(name).set(target)
    if hit_ratio is not None:
        POOL_HIT_RATIO.labels(name).set(hit_ratio)
    totals = (hits, misses, created, failures)
    last = _pool_totals.get(name, (0,) * len(totals))
    for counter, now, before in zip(_POOL_COUNTERS, totals, last, strict=True):
        grown = now - before if now >= before else now  # a smaller total: a new pool under the same name
        counter.labels(name).inc(grown)  # also when 0: the series exists from the pool's start
    COLD_CREATES.labels(name)
    _pool_totals[name] = totals


def pool_closed(name: str) -> None:
    """The pool is gone: it keeps nothing ready any more."""
    if not _enabled:
        return
    POOL_READY.labels(name).set(0)
    POOL_TARGET.labels(name).set(0)


def cold_created(pool: str) -> None:
    """A run created its own container (``pool``: its pool's name, or ``unpooled``)."""
    if not _enabled:
        return
    COLD_CREATES.labels(pool).inc()


def run_started() -> None:
    """A one-shot execution holds its container."""
    if not _enabled:
        return
    RUNNING.inc()


def run_ended() -> None:
    """A one-shot execution let its container go."""
    if not _enabled:
        return
    RUNNING.dec()


def session_opened() -> None:
    """A session opened (its container is up)."""
    if not _enabled:
        return
    SESSIONS_OPEN.inc()


def session_closed() -> None:
    """A session closed (counted once, however it ended)."""
    if not _enabled:
        return
    SESSIONS_OPEN.dec()


# ------------------------------------------------------------------------------ HTTP


def http_request(method: str, route: str, code: int, seconds: float) -> None:
    """One HTTP request answered; ``route`` is the route template (never the raw path)."""
    if not _enabled:
        return
    method = method if method in HTTP_METHODS else OTHER
    _child(HTTP_REQUESTS, method, route, str(code)).inc()
    _child(HTTP_SECONDS, method, route).observe(seconds)


HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
