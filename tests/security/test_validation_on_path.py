"""Validation is on the execution path, and fails closed (the llm-sandbox #147 regression).

llm-sandbox shipped a ``SecurityPolicy`` whose check ``run()`` never called. These
tests drive the real ``ExecutionService`` on the real ``DockerBackend`` and swap the
validator's answer at its two seams (the pipeline function and the service's
``Validator``) to prove that:

* a denying verdict stops the request before any container exists, even for
  harmless code the real pipeline would allow;
* a validator that raises, hangs, or breaks inside a stage makes the request fail
  (an error or a rejection, never a run) and creates no container;
* on the normal path the validator runs exactly once per ``execute``, before the
  backend is asked to run anything.

"No container" is checked twice: the backend's ``acquire``/``_create`` are wrapped to
count (and refuse) calls, and the engine's event log must show no container created
with the test's owner label.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import docker
import pytest

from sandbox.config import Settings
from sandbox.errors import ValidationRejected, error_body
from sandbox.models import ExecutionRequest, Finding, Limits, Status
from sandbox.service import ExecutionService
from sandbox.validation import SourceFile, Verdict, pipeline
from sandbox.validation.rules import RuleChecker
from tests.security.test_bypasses import EngineSpy, NotRejected, containers_created

pytestmark = pytest.mark.anyio

HARMLESS = "print('ok')"
FORCED = Finding(rule_id="test.forced_deny", message="denied by the test's stand-in validator", source="policy")


def request(policy: str = "standard") -> ExecutionRequest:
    return ExecutionRequest(code=HARMLESS, policy=policy, limits=Limits(wall_time_s=5))


def denying_verdict(policy: Any) -> Verdict:
    return Verdict(False, (FORCED,), policy.name, policy.version)


class Boom(RuntimeError):
    """Raised by a broken stand-in validator."""


# Where a stand-in validator can be put: the pipeline function, or the service's Validator.
def patch_pipeline(service: ExecutionService, monkeypatch: pytest.MonkeyPatch, fake: Callable[..., Any]) -> None:
    monkeypatch.setattr(pipeline, "validate_files", fake)


def patch_validator(service: ExecutionService, monkeypatch: pytest.MonkeyPatch, fake: Callable[..., Any]) -> None:
    monkeypatch.setattr(service.validator, "validate", fake)


SEAMS = {"pipeline.validate_files": patch_pipeline, "service.validator.validate": patch_validator}


async def assert_no_container(spy: EngineSpy, client: docker.DockerClient, service: ExecutionService, since: float):
    assert spy.runs == 0 and spy.creates == 0, f"backend touched: runs={spy.runs} creates={spy.creates}"
    created = await containers_created(client, service.backend.owner, since)
    assert not created, f"the engine created containers {created}"


@pytest.fixture
def released() -> Iterator[threading.Event]:
    """Set at teardown, so a stand-in validator blocked on it does not outlive the test."""
    event = threading.Event()
    yield event
    event.set()


# ------------------------------------------------------------ denying verdict
@pytest.mark.parametrize("seam", list(SEAMS))
async def test_denying_verdict_stops_the_run_before_any_container(
    seam: str, service: ExecutionService, docker_client: docker.DockerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def deny(files: Any, language: str, policy: Any, *rest: Any) -> Verdict:
        calls.append(language)
        return denying_verdict(policy)

    SEAMS[seam](service, monkeypatch, deny)
    spy = EngineSpy(service.backend, monkeypatch, refuse=True)
    since = time.time() - 1
    with pytest.raises(ValidationRejected) as caught:
        await service.execute(request())
    assert calls == ["python"], f"the stand-in validator was called {len(calls)} times"
    assert caught.value.findings == [FORCED]
    assert caught.value.status is Status.VALIDATION_REJECTED
    await assert_no_container(spy, docker_client, service, since)


# ------------------------------------------------------------- fail closed
@pytest.mark.parametrize("seam", list(SEAMS))
async def test_validator_exception_fails_closed(
    seam: str, service: ExecutionService, docker_client: docker.DockerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(files: Any, language: str, policy: Any) -> Verdict:
        raise Boom("validator crashed")

    SEAMS[seam](service, monkeypatch, explode)
    spy = EngineSpy(service.backend, monkeypatch, refuse=True)
    since = time.time() - 1
    with pytest.raises(Exception) as caught:  # any error will do; a run will not
        await service.execute(request())
    assert not isinstance(caught.value, NotRejected), "the request went on to the backend"
    assert error_body(caught.value).code not in (Status.OK, Status.RUNTIME_ERROR)
    await assert_no_container(spy, docker_client, service, since)


@pytest.mark.parametrize("stage", ["ast rules", "bandit"])
async def test_stage_failure_inside_the_pipeline_denies(
    stage: str, service: ExecutionService, docker_client: docker.DockerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stage that raises becomes a ``validator.error`` denial, not a pass."""

    def explode(*args: Any, **kwargs: Any) -> Any:
        raise Boom(f"{stage} crashed")

    if stage == "ast rules":
        monkeypatch.setattr(RuleChecker, "check", explode)
    else:
        monkeypatch.setattr(pipeline, "bandit_findings", explode)
    spy = EngineSpy(service.backend, monkeypatch, refuse=True)
    since = time.time() - 1
    with pytest.raises(ValidationRejected) as caught:
        await service.execute(request())
    assert [f.rule_id for f in caught.value.findings if f.action == "deny"] == ["validator.error"]
    await assert_no_container(spy, docker_client, service, since)


async def test_validator_timeout_fails_closed(
    tmp_path: Any,
    service_factory: Callable[..., ExecutionService],
    docker_client: docker.DockerClient,
    monkeypatch: pytest.MonkeyPatch,
    released: threading.Event,
) -> None:
    """A validator that never answers is cut off at ``validation_timeout_s`` and the request denied."""
    settings = Settings(state_dir=tmp_path / "state", pool_size=0, kill_grace_s=1.0, validation_timeout_s=0.5)
    async with service_factory(settings) as service:

        def hang(files: Any, language: str, policy: Any) -> Verdict:
            released.wait(30)
            return Verdict(True, (), policy.name, policy.version)

        patch_validator(service, monkeypatch, hang)
        spy = EngineSpy(service.backend, monkeypatch, refuse=True)
        since = time.time() - 1
        started = time.monotonic()
        with pytest.raises(ValidationRejected) as caught:
            await service.execute(request())
        assert time.monotonic() - started < 5
        assert [f.rule_id for f in caught.value.findings] == ["validator.timeout"]
        await assert_no_container(spy, docker_client, service, since)
        released.set()


# ------------------------------------------------------ once per execute
@pytest.mark.parametrize("policy", ["standard", "permissive", "strict"])
async def test_validator_runs_once_per_execute_before_the_run(
    policy: str, service: ExecutionService, docker_client: docker.DockerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real validator, real backend: one validation per execute, always before the backend's run."""
    events: list[str] = []
    real_validate = service.validator.validate
    real_pipeline = pipeline.validate_files

    def spy_validate(files: Any, language: str, policy: Any) -> Verdict:
        events.append(f"validate:{policy.name}")
        return real_validate(files, language, policy)

    def spy_pipeline(files: Any, language: str, policy: Any, *rest: Any) -> Verdict:
        events.append("pipeline")
        return real_pipeline(files, language, policy, *rest)

    monkeypatch.setattr(service.validator, "validate", spy_validate)
    monkeypatch.setattr(pipeline, "validate_files", spy_pipeline)
    spy = EngineSpy(service.backend, monkeypatch, refuse=False)
    real_acquire = service.backend.acquire

    def ordered_acquire(*args: Any, **kwargs: Any) -> Any:
        events.append("run")
        return real_acquire(*args, **kwargs)

    monkeypatch.setattr(service.backend, "acquire", ordered_acquire)
    since = time.time() - 1
    for _ in range(2):
        result = await service.execute(request(policy))
        assert result.status is Status.OK and result.stdout == "ok\n", result
    # The second, identical request is answered from the verdict cache (the same verdict, denials
    # included, keyed by the code's hash and the policy version): the pipeline runs once.
    assert events == [f"validate:{policy}", "pipeline", "run", "run"], events
    cache = service.validator.cache
    assert cache.get(cache.key([SourceFile("main.py", HARMLESS)], "python", service.policies.get(policy)))
    assert spy.runs == 2 and spy.creates == 2
    created = await containers_created(docker_client, service.backend.owner, since)
    assert len(created) == 2, f"engine events show containers {created}"
