"""One key's expensive validations neither hold every worker nor cost it only one token each."""

from __future__ import annotations

import asyncio
import time

import anyio
import pytest

from sandbox.config import PROJECT_ROOT, Settings
from sandbox.engine import FakeBackend, ImageCatalog, RunOutcome, RunSpec
from sandbox.errors import RateLimited
from sandbox.models import Caller, ExecutionRequest, Status
from sandbox.resilience.admission import KeyLimiter
from sandbox.service import ExecutionService
from sandbox.validation import PolicySet, SourceFile, ValidationWorkers
from tests.unit.validation.shapes import operator_chain

pytestmark = pytest.mark.anyio
SETTINGS = Settings()
POLICIES = PolicySet(SETTINGS.policies_dir, SETTINGS.default_policy)
STANDARD = POLICIES.get("standard")
FLOODER = Caller("key-a", "standard", rate_per_min=10_000, max_concurrency=16, name="a")
OTHER = Caller("key-b", "standard", rate_per_min=10_000, max_concurrency=16, name="b")


def expensive(i: int) -> str:
    """Hundreds of milliseconds of validation, under the timeout; distinct, so never cached."""
    return operator_chain(48 << 10) + f"# {i}\n"


def hello(spec: RunSpec) -> RunOutcome:
    return RunOutcome(status=Status.OK, exit_code=0, stdout=b"1\n", wall_ms=1)


@pytest.fixture
async def workers():
    pool = ValidationWorkers(SETTINGS.policies_dir, SETTINGS.default_policy, size=2, timeout_s=30)
    await pool.start()
    yield pool
    await pool.aclose()


async def test_another_keys_print_is_not_queued_behind_a_flood(workers) -> None:
    flood = [
        asyncio.create_task(workers.validate([SourceFile("main.py", expensive(i))], "python", STANDARD, "key-a"))
        for i in range(6)
    ]
    await asyncio.sleep(0.2)  # the flood holds its share and queues the rest
    started = time.monotonic()
    verdict = await workers.validate([SourceFile("main.py", "print(1)")], "python", STANDARD, "key-b")
    took = time.monotonic() - started
    flooded = time.monotonic()
    await asyncio.gather(*flood)
    assert verdict.allowed
    assert took < 0.5, f"print(1) of another key waited {took:.2f} s behind one key's flood"
    assert time.monotonic() - flooded > 0.5  # the flood was still running: the test measured something


async def test_validate_and_run_for_another_key_while_one_key_floods(workers) -> None:
    service = ExecutionService(SETTINGS, FakeBackend(hello), ImageCatalog(PROJECT_ROOT / "images"), POLICIES)
    service.validation = workers
    flood = [
        asyncio.create_task(service.execute(ExecutionRequest(code=expensive(i)), caller=FLOODER)) for i in range(6)
    ]
    await asyncio.sleep(0.2)
    started = time.monotonic()
    with anyio.fail_after(10):
        result = await service.execute(ExecutionRequest(code="print(1)"), caller=OTHER)
    took = time.monotonic() - started
    await asyncio.gather(*flood)
    assert result.status is Status.OK
    assert took < 0.5, f"print(1) validated and ran in {took:.2f} s while another key flooded"


async def test_expensive_validation_is_charged_to_the_keys_rate(workers) -> None:
    service = ExecutionService(SETTINGS, FakeBackend(hello), ImageCatalog(PROJECT_ROOT / "images"), POLICIES)
    service.validation = workers
    caller = Caller("key-c", "standard", rate_per_min=20, max_concurrency=4, name="c")
    verdict = await service.check(ExecutionRequest(code=expensive(99)), caller=caller)
    assert verdict.cpu_s > SETTINGS.validation_free_cpu_s
    extra = (verdict.cpu_s - SETTINGS.validation_free_cpu_s) / SETTINGS.validation_cpu_s_per_token
    assert isinstance(service.limiter, KeyLimiter)  # no redis_url: the in-process limiter
    bucket = service.limiter._buckets["key-c"]
    assert bucket.tokens == pytest.approx(20 - 1 - extra, abs=0.2)
    # Cached, the same program costs one token and no more.
    before = bucket.tokens
    assert (await service.check(ExecutionRequest(code=expensive(99)), caller=caller)).cached
    assert bucket.tokens == pytest.approx(before - 1, abs=0.1)


async def test_a_charge_can_go_into_debt_down_to_a_minute_of_rate() -> None:
    limiter = KeyLimiter()
    await limiter.take("k", 60)
    await limiter.charge("k", 60, 500)
    assert limiter._buckets["k"].tokens == pytest.approx(-60, abs=0.1)
    with pytest.raises(RateLimited) as refused:
        await limiter.take("k", 60)
    assert refused.value.retry_after_s >= 60
    await limiter.charge(None, 60, 5)  # the local operator is never charged
    await limiter.charge("k", None, 5)
