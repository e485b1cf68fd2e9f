"""The replica <-> worker wire format: round trips, errors by class, sealed environments."""

from __future__ import annotations

import base64
import json

import pytest
import redis.asyncio as aioredis

from sandbox.cluster import wire
from sandbox.cluster.dispatch import JOBS, DispatchBackend
from sandbox.engine.spec import ArtifactRules, CollectedArtifact, RunFile, RunOutcome, TestInput
from sandbox.errors import EngineError, NotFound, PoolExhausted, RateLimited, SecretError, WorkerLost
from sandbox.models import CompileResult, SessionFile, SessionFiles, Status, TestCaseResult, TestSummary
from sandbox.secrets.keys import LocalKeyProvider
from tests.unit.cluster.harness import KEK, settings, spec

pytestmark = pytest.mark.anyio

KEYS = LocalKeyProvider.from_text(KEK, "test")
SECRET = "s3cr3t-value-that-must-not-leak"


def full_spec() -> object:
    return spec(
        b"print(input())",
        files=(RunFile("main.py", b"print(input())"), RunFile("bin/x", b"\x00\xff\x01", 0o755)),
        stdin=b"\x00line\n",
        env={"API_TOKEN": SECRET, "LANG": "C.UTF-8"},
        allowed_modules=("math",),
        compile_argv=("gcc", "main.c"),
        compile_env={"CC": "gcc"},
        tests=(TestInput(b"1\n", ("a", "b c"), b"1\n"), TestInput(b"", (), None)),
        preload=("numpy",),
        artifacts=ArtifactRules(globs=("out/*.png",), max_files=3),
        container_memory_mb=512,
        set_run_memory=True,
    )


def test_spec_round_trip_keeps_every_field() -> None:
    original = full_spec()
    data = json.loads(json.dumps(wire.spec_to_wire(original, "job1", KEYS)))  # type: ignore[arg-type]
    assert wire.spec_from_wire(data, "job1", KEYS) == original


def test_spec_without_env_needs_no_kek_and_keeps_none() -> None:
    plain = spec()
    data = wire.spec_to_wire(plain, "j", KEYS)
    assert data["env"] is None
    assert wire.spec_from_wire(data, "j", KEYS) == plain


def test_sealed_env_is_bound_to_its_job_and_its_kek() -> None:
    data = wire.spec_to_wire(full_spec(), "job1", KEYS)  # type: ignore[arg-type]
    assert SECRET not in json.dumps(data)
    with pytest.raises(SecretError):
        wire.spec_from_wire(data, "another-job", KEYS)  # replayed under another job id
    other = LocalKeyProvider.from_text("t1:" + base64.b64encode(b"x" * 32).decode(), "other")
    with pytest.raises(SecretError):
        wire.spec_from_wire(data, "job1", other)


def test_outcome_round_trip_with_compile_tests_and_artifacts() -> None:
    outcome = RunOutcome(
        status=Status.RUNTIME_ERROR,
        exit_code=1,
        signal=None,
        stdout=b"\x00out",
        stderr=b"err\xff",
        stdout_truncated=True,
        wall_ms=12,
        cpu_ms=5,
        peak_memory_bytes=1 << 20,
        message="it failed",
        compile=CompileResult(status=Status.OK, exit_code=0, output="warning", wall_ms=40),
        tests=[TestCaseResult(index=0, status=Status.OK, passed=True, stdout="1\n")],
        summary=TestSummary(total=1, passed=1, failed=0),
        artifacts=[CollectedArtifact("out/a.png", 3, b"\x89PN"), CollectedArtifact("big", 10**9, None, "too large")],
    )
    assert wire.outcome_from_wire(json.loads(json.dumps(wire.outcome_to_wire(outcome)))) == outcome


def test_files_round_trip() -> None:
    listing = SessionFiles(items=[SessionFile(path="a.txt", type="file", size=3)], truncated=True)
    assert wire.files_from_wire(json.loads(json.dumps(wire.files_to_wire(listing)))) == listing


def test_errors_come_back_as_their_class_with_message_and_retry_after() -> None:
    error = PoolExhausted("busy")
    error.retry_after_s = 7
    back = wire.error_from_wire(json.loads(json.dumps(wire.error_to_wire(error))))
    assert type(back) is PoolExhausted
    assert (back.message, back.retry_after_s) == ("busy", 7)
    for cls in (NotFound, WorkerLost, RateLimited):
        back = wire.error_from_wire(wire.error_to_wire(cls("why")))
        assert (type(back), back.message) == (cls, "why")
    assert wire.error_from_wire({"error": "NotFound", "message": "m", "ended": True}).ended is True  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["KeyError", "os", "SandboxError.__class__", "", "Settings", None])
def test_an_unknown_or_foreign_error_name_is_an_engine_error(name: object) -> None:
    back = wire.error_from_wire({"error": name, "message": "m"})
    assert type(back) is EngineError and back.message == "m"


async def test_a_queued_job_holds_no_secret_in_clear(redis_url: str) -> None:
    """XRANGE the jobs stream while no worker runs: the env value is nowhere in it, a wrong KEK cannot open it."""
    config = settings(redis_url)
    backend = DispatchBackend(config)
    client = aioredis.Redis.from_url(redis_url)
    try:
        job = await backend.submit("run", full_spec())  # type: ignore[arg-type]
        entries = await client.xrange(JOBS)
        assert len(entries) == 1
        raw = b"".join(k + v for k, v in entries[0][1].items())
        assert SECRET.encode() not in raw
        assert base64.b64encode(SECRET.encode()) not in raw
        for key in await client.keys("*"):  # nothing else in Redis holds it either
            if await client.type(key) == b"string":
                assert SECRET.encode() not in (await client.get(key) or b"")
        payload = json.loads(entries[0][1][b"job"])
        assert payload["job"] == job
        assert wire.spec_from_wire(payload["spec"], job, KEYS).env["API_TOKEN"] == SECRET
        other = LocalKeyProvider.from_text("t2:" + base64.b64encode(b"y" * 32).decode(), "other")
        with pytest.raises(SecretError):
            wire.open_env(payload["spec"]["env"], job, other)
    finally:
        await client.aclose()
        await backend.aclose()
