"""The false-positive corpus, run for real: ordinary programs pass `standard` and run to `ok`."""

from __future__ import annotations

import asyncio

import pytest

from sandbox.config import PROJECT_ROOT
from sandbox.errors import ValidationRejected
from sandbox.models import ExecutionRequest, Status

pytestmark = pytest.mark.anyio
PROGRAMS = sorted((PROJECT_ROOT / "tests" / "corpus" / "ok").glob("*.py"))
#: Denied by `standard` on purpose (see tests/unit/validation/test_false_positives.py).
DENIED_ON_PURPOSE = {"expression_visitor_dispatch", "json_objects_default_dict"}


async def test_corpus_runs_ok_under_standard(settings, service_factory) -> None:
    svc = service_factory(settings.model_copy(update={"pool_size": 4, "max_concurrency": 4}), warm=True)
    async with svc:
        semaphore = asyncio.Semaphore(4)

        async def run(path):
            async with semaphore:
                request = ExecutionRequest(code=path.read_text(), policy="standard", limits={"wall_time_s": 30})
                try:
                    return path.stem, await svc.execute(request)
                except ValidationRejected as exc:
                    return path.stem, exc

        outcomes = dict(await asyncio.gather(*(run(p) for p in PROGRAMS)))
    rejected = {name: r.message for name, r in outcomes.items() if isinstance(r, ValidationRejected)}
    assert set(rejected) == DENIED_ON_PURPOSE, rejected
    failed = {
        name: f"{r.status.value}: {r.stderr[-300:]}"
        for name, r in outcomes.items()
        if name not in rejected and r.status is not Status.OK
    }
    assert not failed, failed
