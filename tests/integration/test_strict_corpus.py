"""Ordinary programs written by others run under `standard` and `strict` alike (issue 11).

The corpus is OpenAI's HumanEval (tests/corpus/humaneval): 164 functions with their
canonical solution and their own asserts. Each one runs through the service, validation
included, on a warm pool; every one must end `ok` but the deliberate denials below.
"""

from __future__ import annotations

import asyncio

import pytest

from sandbox.config import PROJECT_ROOT
from sandbox.errors import ValidationRejected
from sandbox.models import ExecutionRequest, ExecutionResult, Status

pytestmark = pytest.mark.anyio
PROGRAMS = sorted((PROJECT_ROOT / "tests" / "corpus" / "humaneval").glob("he_*.py"))
#: Denied on purpose, under both tiers: he_160 calls eval() on an expression it builds.
DENIED_ON_PURPOSE = {"he_160"}
CONCURRENCY = 4


async def run_corpus(service, policy: str) -> dict[str, ExecutionResult | ValidationRejected]:
    semaphore = asyncio.Semaphore(CONCURRENCY)

    async def run(path):
        async with semaphore:
            request = ExecutionRequest(code=path.read_text(), policy=policy, limits={"wall_time_s": 20})
            try:
                return path.stem, await service.execute(request)
            except ValidationRejected as exc:
                return path.stem, exc

    return dict(await asyncio.gather(*(run(p) for p in PROGRAMS)))


@pytest.mark.timeout(600)
@pytest.mark.parametrize("policy", ["standard", "strict"])
async def test_humaneval_runs_ok(settings, service_factory, policy: str) -> None:
    assert len(PROGRAMS) == 164
    svc = service_factory(
        settings.model_copy(update={"pool_size": CONCURRENCY, "max_concurrency": CONCURRENCY}), warm=True
    )
    async with svc:
        outcomes = await run_corpus(svc, policy)
    rejected = {name: r.message for name, r in outcomes.items() if isinstance(r, ValidationRejected)}
    assert set(rejected) == DENIED_ON_PURPOSE, rejected
    failed = {
        name: f"{r.status.value}: {r.stderr[-400:]}"
        for name, r in outcomes.items()
        if isinstance(r, ExecutionResult) and r.status is not Status.OK
    }
    assert not failed, failed
