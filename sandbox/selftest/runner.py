"""Running the cases against a target: a preflight, then a few at a time, each bounded in time.

A benign ``print('ok')`` goes first: if it does not come back ``ok`` the target
cannot be tested (no engine, images missing, wrong URL or key), which is
``CouldNotRun``, not a hundred misses. Then the cases run ``concurrency`` at a time,
longest first; each request is bounded by its header's wall-time limit plus a
margin, so a hung deployment ends the selftest rather than hanging it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sandbox.models import ExecutionRequest, ExecutionResult, Limits, Status
from sandbox.selftest.cases import PERMISSIVE
from sandbox.selftest.judge import Outcome, summary
from sandbox.selftest.plan import MARGIN_S, Case
from sandbox.selftest.targets import CouldNotRun, Target

DEFAULT_CONCURRENCY = 3
PREFLIGHT = ExecutionRequest(code="print('ok')", policy=PERMISSIVE, limits=Limits(wall_time_s=10))
REMOTE_PATHS_NOTE = "host paths not checked (the engine is not on this machine)"


@dataclass(frozen=True)
class CaseResult:
    """A case, what its requests answered, and the misses (none: it held)."""

    case: Case
    outcomes: tuple[Outcome, ...]
    misses: tuple[str, ...]
    notes: tuple[str, ...]
    seconds: float

    @property
    def held(self) -> bool:
        return not self.misses


@dataclass(frozen=True)
class Report:
    """The whole run: the target's name, each case's result (in corpus order), and the time it took."""

    target: str
    results: tuple[CaseResult, ...]
    seconds: float

    @property
    def held(self) -> bool:
        return all(r.held for r in self.results)


async def preflight(target: Target) -> None:
    """``CouldNotRun`` unless a benign program runs to ``ok`` under ``permissive``."""
    outcome = await target.run(PREFLIGHT, 10 + MARGIN_S)
    if not (isinstance(outcome, ExecutionResult) and outcome.status is Status.OK and outcome.stdout == "ok\n"):
        raise CouldNotRun(f"a benign print('ok') under {PERMISSIVE} did not come back ok: {summary(outcome)}")


async def run_case(target: Target, case: Case) -> CaseResult:
    """One case's requests in order, and its verdict; host paths are checked when the engine is local."""
    started = time.monotonic()
    notes = list(case.notes)
    misses: list[str] = []
    if case.host_paths and not target.on_host:
        notes.append(REMOTE_PATHS_NOTE)
    check_paths = target.on_host and case.host_paths
    if check_paths:
        misses += [f"host path {p} exists before the run (a stale marker? remove it)" for p in _present(case)]
    outcomes = [await target.run(request, case.timeout_s) for request in case.requests]
    misses += case.judge(outcomes)
    if check_paths:
        misses += [f"host path {p} exists after the run" for p in _present(case)]
    return CaseResult(case, tuple(outcomes), tuple(misses), tuple(notes), time.monotonic() - started)


def _present(case: Case) -> list[str]:
    return [path for path in case.host_paths if Path(path).exists()]


async def run(
    target: Target,
    cases: Sequence[Case],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    on_done: Callable[[CaseResult], None] | None = None,
) -> Report:
    """Preflight, then every case; ``CouldNotRun`` from any request stops the rest."""
    started = time.monotonic()
    await preflight(target)
    slots = asyncio.Semaphore(concurrency)
    done: dict[str, CaseResult] = {}

    async def one(case: Case) -> None:
        async with slots:
            result = await run_case(target, case)
        done[case.id] = result
        if on_done is not None:
            on_done(result)

    # Longest first: the slow rows do not end up alone at the tail while the other slots idle.
    longest_first = sorted(cases, key=lambda c: c.wall_time_s * len(c.requests), reverse=True)
    try:
        async with asyncio.TaskGroup() as group:
            for case in longest_first:
                group.create_task(one(case), name=f"selftest-{case.id}")
    except* CouldNotRun as failed:
        raise failed.exceptions[0] from None
    results = tuple(done[case.id] for case in cases)
    return Report(target.name, results, time.monotonic() - started)
