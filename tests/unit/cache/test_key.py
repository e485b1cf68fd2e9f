"""The result cache's key: every input that changes a run changes it; what does not change the run does not."""

from __future__ import annotations

import base64
import dataclasses
from pathlib import Path
from typing import Any

import pytest

from sandbox.cache import CACHEABLE, cache_key, uncacheable
from sandbox.config import PROJECT_ROOT, Settings
from sandbox.engine import ImageCatalog
from sandbox.models import (
    Artifact,
    CompileResult,
    ExecutionRequest,
    ExecutionResult,
    Status,
    TestCaseResult,
)
from sandbox.planning import Planner
from sandbox.validation import PolicySet

CATALOG = ImageCatalog(PROJECT_ROOT / "images")
BASE: dict[str, Any] = {"code": "print(input())", "stdin": "x", "args": ["a"], "env": {"A": "1", "B": "2"}}


def key_of(
    request: dict[str, Any] | None = None,
    *,
    key_id: str | None = "key-1",
    settings: Settings | None = None,
    catalog: ImageCatalog = CATALOG,
    version_bump: int = 0,
) -> str:
    settings = settings or Settings(state_dir=Path("/nonexistent"))
    policies = PolicySet(settings.policies_dir, settings.default_policy)
    planner = Planner(settings, catalog, policies)
    req = ExecutionRequest(**(BASE if request is None else request))
    policy = planner.choose_policy(req.policy)
    spec = planner.plan(req, policy)
    return cache_key(
        spec, key_id=key_id, policy=policy.name, policy_version=policy.version + version_bump, settings=settings
    )


CHANGES: dict[str, dict[str, Any]] = {
    "code": {**BASE, "code": "print(input() * 2)"},
    "stdin": {**BASE, "stdin": "y"},
    "args": {**BASE, "args": ["b"]},
    "args order": {**BASE, "args": ["a", "b"]},
    "env value": {**BASE, "env": {"A": "1", "B": "3"}},
    "env name": {**BASE, "env": {"A": "1", "C": "2"}},
    "a file": {**BASE, "files": [{"path": "data.txt", "content": "1"}]},
    "language": {**BASE, "language": "javascript", "code": "console.log(1)"},
    "wall limit": {**BASE, "limits": {"wall_time_s": 3}},
    "memory limit": {**BASE, "limits": {"memory_mb": 128}},
    "stdout cap": {**BASE, "limits": {"stdout_bytes": 1000}},
    "policy": {**BASE, "policy": "strict"},
    "outputs": {**BASE, "outputs": ["*.csv"]},
    "tests": {"code": BASE["code"], "tests": [{"stdin": "x", "expected_stdout": "x"}]},
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_each_input_that_changes_the_run_changes_the_key(change: str) -> None:
    assert key_of(CHANGES[change]) != key_of()


def test_the_file_contents_change_the_key() -> None:
    one = {**BASE, "files": [{"path": "data.txt", "content": "1"}]}
    two = {**BASE, "files": [{"path": "data.txt", "content": "2"}]}
    assert key_of(one) != key_of(two)


def test_tests_cases_change_the_key() -> None:
    one = {"code": "print(1)", "tests": [{"stdin": "x", "expected_stdout": "1"}]}
    two = {"code": "print(1)", "tests": [{"stdin": "x", "expected_stdout": "2"}]}
    assert key_of(one) != key_of(two)


def test_the_api_key_the_policy_version_and_the_image_change_the_key(tmp_path: Path) -> None:
    assert key_of(key_id="key-2") != key_of()
    assert key_of(key_id=None) != key_of()  # the local operator is a tenant of its own
    assert key_of(version_bump=1) != key_of()
    assert key_of(catalog=ImageCatalog(PROJECT_ROOT / "images", "other-prefix")) != key_of()


def test_server_settings_that_change_every_run_change_the_key(tmp_path: Path) -> None:
    for setting in ({"runtime": "runsc"}, {"user": "1000:1000"}, {"nofile": 64}, {"cpus": 0.5}):
        assert key_of(settings=Settings(state_dir=tmp_path, **setting)) != key_of(), setting


def test_what_does_not_change_the_run_does_not_change_the_key(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path)
    same = [
        {**BASE, "cache": True},  # the flag itself
        {**BASE, "env": {"B": "2", "A": "1"}},  # the order of variables
        {**BASE, "language": "py"},  # an alias
        {**BASE, "policy": settings.default_policy},  # the default, named
        {**BASE, "limits": {"wall_time_s": settings.wall_time_s, "memory_mb": settings.memory_mb}},  # the defaults
    ]
    for request in same:
        assert key_of(request) == key_of(), request
    # A file as base64 or as text: the same bytes.
    text = {**BASE, "files": [{"path": "d.txt", "content": "héllo"}]}
    encoded = base64.b64encode("héllo".encode()).decode()
    binary = {**BASE, "files": [{"path": "d.txt", "content": encoded, "encoding": "base64"}]}
    assert key_of(text) == key_of(binary)
    # Settings that do not reach the run (where records go, the port, the pool).
    assert key_of(settings=Settings(state_dir=tmp_path / "x", port=9999, pool_size=1)) == key_of()


def test_the_key_is_a_sha256_hex_digest() -> None:
    key = key_of()
    assert len(key) == 64 and int(key, 16) >= 0


def test_an_unknown_spec_field_type_is_an_error_not_a_silent_collision() -> None:
    settings = Settings(state_dir=Path("/nonexistent"))
    policies = PolicySet(settings.policies_dir, settings.default_policy)
    planner = Planner(settings, CATALOG, policies)
    spec = planner.plan(ExecutionRequest(code="print(1)"), policies.get(None))
    odd = dataclasses.replace(spec, env={"A": object()})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="cannot key"):
        cache_key(odd, key_id=None, policy="p", policy_version=1, settings=settings)


# ------------------------------------------------------------------ what may be kept


@pytest.mark.parametrize("status", sorted(Status, key=lambda s: s.value))
def test_only_the_programs_own_verdicts_are_kept(status: Status) -> None:
    kept = uncacheable(ExecutionResult(status=status)) is None
    assert kept == (status in CACHEABLE)
    assert kept == (
        status
        in {
            Status.OK,
            Status.RUNTIME_ERROR,
            Status.COMPILE_ERROR,
            Status.CPU_TIME_EXCEEDED,
            Status.MEMORY_EXCEEDED,
            Status.OUTPUT_LIMIT_EXCEEDED,
        }
    )


def test_a_case_or_a_compile_that_timed_out_is_not_kept() -> None:
    case = TestCaseResult(index=0, status=Status.TIMEOUT)
    assert "timeout" in (uncacheable(ExecutionResult(status=Status.OK, tests=[case])) or "")
    compiled = CompileResult(status=Status.TIMEOUT)
    assert "timeout" in (uncacheable(ExecutionResult(status=Status.COMPILE_ERROR, compile=compiled)) or "")
    fine = TestCaseResult(index=0, status=Status.RUNTIME_ERROR)
    assert uncacheable(ExecutionResult(status=Status.OK, tests=[fine], compile=CompileResult(status=Status.OK))) is None


def test_a_run_with_artifacts_is_not_kept() -> None:
    result = ExecutionResult(status=Status.OK, artifacts=[Artifact(name="out/a.txt", size=1)])
    assert uncacheable(result) == "the run left artifacts"
