"""Verdicts are bounded in memory: findings capped per verdict, the cache capped in bytes, timeouts cached."""

from __future__ import annotations

import time

import pytest

from sandbox.validation import SourceFile, ValidationWorkers, Validator, Verdict, VerdictCache, validate_files
from sandbox.validation.pipeline import MAX_MESSAGE_CHARS
from tests.unit.validation.util import POLICIES, STANDARD

MANY = "import os\n" + "os.system\n" * 5000  # a finding per line


def files(code: str) -> list[SourceFile]:
    return [SourceFile("main.py", code)]


def test_a_verdict_keeps_the_first_findings_and_counts_the_rest() -> None:
    verdict = validate_files(files(MANY), "python", STANDARD, max_findings=50)
    assert not verdict.allowed
    assert len(verdict.findings) == 51
    last = verdict.findings[-1]
    assert (last.rule_id, last.action) == ("findings.truncated", "deny")
    assert "and 4950 more findings not shown (4950 of them deny)" in last.message


def test_a_long_message_is_cut() -> None:
    name = "__" + "a" * 5000 + "__"
    verdict = validate_files(files(f"x.{name}\n"), "python", STANDARD)
    assert all(len(f.message) <= MAX_MESSAGE_CHARS + 1 for f in verdict.findings)


def test_a_verdict_reports_its_cpu_time_and_a_cached_one_none() -> None:
    validator = Validator()
    first = validator.validate(files(MANY), "python", STANDARD)
    again = validator.validate(files(MANY), "python", STANDARD)
    assert first.cpu_s > 0
    assert again.cached and again.cpu_s == 0


def verdict_of_size(findings: int) -> Verdict:
    return validate_files(files("import os\n" + "os.system\n" * findings), "python", STANDARD)


def test_the_cache_is_bounded_in_bytes() -> None:
    big = verdict_of_size(100)
    cache = VerdictCache(size=10_000, max_bytes=big.size * 3)
    for i in range(10):
        cache.put((str(i), "python", "standard", 1), big)
    assert len(cache) == 3
    assert cache.bytes <= big.size * 3
    assert cache.get(("9", "python", "standard", 1)) is not None
    assert cache.get(("0", "python", "standard", 1)) is None


def test_a_verdict_larger_than_the_cache_is_not_kept() -> None:
    big = verdict_of_size(100)
    cache = VerdictCache(max_bytes=big.size - 1)
    cache.put(("k", "python", "standard", 1), big)
    assert len(cache) == 0


def test_an_entry_with_a_ttl_expires() -> None:
    cache = VerdictCache()
    cache.put(("k", "python", "standard", 1), verdict_of_size(1), ttl_s=0.05)
    assert cache.get(("k", "python", "standard", 1)) is not None
    time.sleep(0.1)
    assert cache.get(("k", "python", "standard", 1)) is None
    assert cache.bytes == 0


@pytest.mark.anyio
async def test_a_timed_out_validation_is_cached_as_a_denial() -> None:
    settings_dir = POLICIES.directory
    workers = ValidationWorkers(settings_dir, "standard", size=1, timeout_s=0.05)
    await workers.start()
    try:
        slow = "".join(f"def f{i}(x):\n    return x.a + x.b * {i}\n" for i in range(3000))
        first = await workers.validate(files(slow), "python", STANDARD)
        assert not first.allowed and first.findings[0].rule_id == "validator.failed"
        assert first.cpu_s == pytest.approx(0.05)
        started = time.monotonic()
        again = await workers.validate(files(slow), "python", STANDARD)
        assert again.cached and not again.allowed and again.cpu_s == 0
        assert time.monotonic() - started < 0.05
    finally:
        await workers.aclose()
