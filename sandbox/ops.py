"""The operations snapshot (``GET /v1/ops``): what an operator needs at a glance, from the service's own data.

Two sources, said apart because they differ under ``--workers N``:

- this process: the engine's state and conditions (readiness, the breaker), the
  warm pools with their hit and miss counts, executions in flight, open sessions.
  Each worker process has its own; the snapshot is the answering worker's
  (``instance`` names it).
- the store, shared by every process and replica: executions per minute by
  status over the last ``WINDOW_MINUTES`` (refusals included, from the audit
  log), latency percentiles, and the newest failures. The queries are bounded
  (``sandbox.store.activity``), run in a thread, off the event loop, and their
  answer is reused for ``STORE_TTL_S`` (``StoreFigures``).

The shape is agreed with the ``/ops`` page that reads it (``/work/i14/ops-shape.md``
during issue 14; the README's "Operations snapshot" section since).
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from sandbox import __version__, instance
from sandbox.engine import PoolReport
from sandbox.executions import ExecutionManager
from sandbox.service import ExecutionService
from sandbox.sessions import SessionManager
from sandbox.store import Activity, Store, minute_of, recent_activity

#: The window of the store's figures, in whole minutes (the current, partial minute is the last).
WINDOW_MINUTES = 60
#: How many of the newest failures the snapshot lists.
FAILURES = 20
#: The percentiles of each latency.
PERCENTILES = (50, 90, 99)
#: How long the store's figures are reused (seconds): pages polling together cost one read.
STORE_TTL_S = 2.0


class EngineState(BaseModel):
    """The engine as readiness sees it, plus every named condition of the backend (e.g. ``breaker``)."""

    model_config = ConfigDict(extra="allow")

    status: str = Field(description='"ok", or why the engine cannot run anything now.')
    runtime: str = Field(description="The OCI runtime of the sandboxes: runc, or runsc (gVisor).")
    breaker: str | None = Field(description="The engine's circuit breaker: closed, open or half_open.")
    ready: bool = Field(description="What /readyz says: engine reachable, breaker not open, pools filled.")


class PoolState(BaseModel):
    """One warm pool of this process (counts are running totals since it started)."""

    name: str = Field(description="The pool's name: its image and memory profile (as in the metrics).")
    language: str | None = Field(description="The language whose default runs it serves.")
    ready: int = Field(description="Warm containers waiting now.")
    target: int = Field(
        description="Warm containers it aims at now: grown on misses, shrunk when they go unused, within its "
        "bounds and its share of pool_capacity."
    )
    minimum: int = Field(description="Warm containers it keeps even when idle (0: an on-demand pool).")
    maximum: int = Field(description="Most warm containers it grows to.")
    hit_ratio: float | None = Field(description="Hits among its last 64 runs; null before the first.")
    hits: int = Field(description="Runs that took a warm container.")
    misses: int = Field(description="Runs that found it empty and made their own container.")
    created: int = Field(description="Containers created to fill it.")
    failures: int = Field(description="Creations that failed.")


class SessionCounts(BaseModel):
    open: int = Field(description="Sessions open in this process (any key).")


class MinuteCounts(BaseModel):
    minute: datetime = Field(description="The minute's start (UTC).")
    counts: dict[str, int] = Field(description="Executions created in that minute, by status word.")


class ExecutionCounts(BaseModel):
    """Finished executions and refusals of every key (and replica) in the window, by status word."""

    window_minutes: int
    per_minute: list[MinuteCounts] = Field(description="Oldest first; only minutes with executions.")
    totals: dict[str, int]


class Percentiles(BaseModel):
    p50: float
    p90: float
    p99: float


class LatencyFigures(BaseModel):
    """Percentiles over the window's finished executions (the newest 10 000 at most: ``count``)."""

    window_minutes: int
    count: int
    end_to_end: Percentiles | None = Field(description="finished_at - created_at; null: no execution finished.")
    program_wall: Percentiles | None = Field(description="The program's own wall time (`wall_ms`).")


class RecentFailure(BaseModel):
    id: str
    created_at: datetime
    language: str
    status: str
    message: str = Field(description="The result's message, cut to 300 characters.")
    key: str | None = Field(description="The name of the key that ran it; null for the local CLI.")


class OpsSnapshot(BaseModel):
    """What ``GET /v1/ops`` answers (see the module docstring)."""

    generated_at: datetime
    version: str
    instance: str = Field(description="The process that answered (host:pid): its engine, pools and sessions.")
    engine: EngineState
    pools: list[PoolState]
    running: int = Field(description="Executions in flight in this process.")
    sessions: SessionCounts
    executions: ExecutionCounts
    latency_ms: LatencyFigures
    recent_failures: list[RecentFailure] = Field(description="Newest first, at most 20, within the window.")


class StoreFigures:
    """The store's part of the snapshot, read in a thread and reused for ``ttl_s``: a request that comes
    while one reads waits for that read instead of starting another (a page left open in ten browsers
    costs one read per ``ttl_s``). The process's own figures are never reused."""

    def __init__(self, store: Store, ttl_s: float = STORE_TTL_S) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self._lock = asyncio.Lock()
        self._kept: tuple[float, Activity] | None = None

    async def read(self) -> Activity:
        async with self._lock:
            loop = asyncio.get_running_loop()
            if self._kept is not None and loop.time() - self._kept[0] < self.ttl_s:
                return self._kept[1]
            now = datetime.now(UTC)
            since = minute_of(now) - timedelta(minutes=WINDOW_MINUTES - 1)
            activity = await asyncio.to_thread(recent_activity, self.store, since, now, FAILURES)
            self._kept = (loop.time(), activity)
            return activity


async def snapshot(
    service: ExecutionService, manager: ExecutionManager, sessions: SessionManager, figures: StoreFigures
) -> OpsSnapshot:
    """The snapshot as of now: this process's figures read now, the store's at most ``figures.ttl_s`` old."""
    now = datetime.now(UTC)
    readiness, activity = await asyncio.gather(service.readiness(), figures.read())
    me = instance.current()
    return OpsSnapshot(
        generated_at=now,
        version=__version__,
        instance=f"{me.host}:{me.pid}",
        engine=engine_state(readiness, service.settings.runtime),
        pools=pool_states(service.backend.pools(), pool_languages(service)),
        running=manager.running,
        sessions=SessionCounts(open=sessions.open_count),
        executions=execution_counts(activity),
        latency_ms=latency(activity),
        recent_failures=[RecentFailure(**vars(failure)) for failure in activity.failures],
    )


def engine_state(readiness: dict[str, object], runtime: str | None) -> EngineState:
    """Readiness's report without its pools (listed in full beside it), conditions kept."""
    conditions = {k: v for k, v in readiness.items() if k not in ("engine", "ready", "pools", "runtime", "status")}
    breaker = conditions.pop("breaker", None)
    return EngineState(
        status=str(readiness.get("engine", "unknown")),
        runtime=runtime or "runc",  # unset: the engine's default, runc on a stock dockerd
        breaker=str(breaker) if breaker is not None else None,
        ready=bool(readiness.get("ready")),
        **conditions,
    )


def pool_languages(service: ExecutionService) -> dict[str, str]:
    """Image tag -> language, for the languages with a standing pool (their tags are cached)."""
    return {service.catalog.image_tag(name): name for name in service.planner.pool_bounds()}


def pool_states(pools: Sequence[PoolReport], languages: dict[str, str]) -> list[PoolState]:
    return [
        PoolState(
            name=pool.name,
            language=next((name for tag, name in languages.items() if pool.name.startswith(f"{tag}/")), None),
            ready=pool.ready,
            target=pool.target,
            minimum=pool.minimum,
            maximum=pool.maximum,
            hit_ratio=pool.hit_ratio,
            hits=pool.hits,
            misses=pool.misses,
            created=pool.created,
            failures=pool.failures,
        )
        for pool in sorted(pools, key=lambda p: p.name)
    ]


def execution_counts(activity: Activity) -> ExecutionCounts:
    totals: Counter[str] = Counter()
    for counts in activity.per_minute.values():
        totals.update(counts)
    return ExecutionCounts(
        window_minutes=WINDOW_MINUTES,
        per_minute=[
            MinuteCounts(minute=minute, counts=dict(sorted(activity.per_minute[minute].items())))
            for minute in sorted(activity.per_minute)
        ],
        totals=dict(sorted(totals.items())),
    )


def latency(activity: Activity) -> LatencyFigures:
    return LatencyFigures(
        window_minutes=WINDOW_MINUTES,
        count=len(activity.end_to_end_ms),
        end_to_end=percentiles(activity.end_to_end_ms),
        program_wall=percentiles(activity.wall_ms),
    )


def percentiles(values: Sequence[float]) -> Percentiles | None:
    """p50, p90 and p99 by linear interpolation between the closest ranks (numpy's default); None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    found = {}
    for p in PERCENTILES:
        rank = (len(ordered) - 1) * p / 100
        low, high = math.floor(rank), math.ceil(rank)
        value = ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
        found[f"p{p}"] = round(value, 1)
    return Percentiles(**found)
