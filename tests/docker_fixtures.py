"""Fixtures for tests against the real Docker engine (marker ``docker``).

Every test gets its own ``ExecutionService`` on a ``DockerBackend`` whose
containers carry a per-test owner label; teardown closes it and fails the test
if any container with that label is left. A session-end check fails the run if
any sandbox container at all is left on the engine.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import docker
import pytest

from sandbox.config import Settings
from sandbox.engine import DockerBackend, ImageCatalog
from sandbox.engine.hardening import LABEL_MANAGED, LABEL_OWNER
from sandbox.models import ExecutionRequest, ExecutionResult, Limits
from sandbox.service import ExecutionService
from sandbox.validation import PolicySet
from tests.conftest import TEST_RUNTIME

#: Owner labels of this test session's containers start with this.
SESSION_OWNER = f"test-{uuid.uuid4().hex[:6]}"
#: When this test session started (Docker's ``Created`` is whole seconds).
SESSION_STARTED = int(time.time()) - 1


def _ours(container: dict) -> bool:
    """This session's containers; under CI every sandbox container made while the tests ran.

    Under CI the check also catches containers a test made under an owner it did not
    choose (a subprocess's default owner); containers already on the engine when the
    run began (another program's, or a killed run's) are not this run's leak.
    """
    if container["Labels"].get(LABEL_OWNER, "").startswith(SESSION_OWNER):
        return True
    return bool(os.environ.get("CI")) and container["Created"] >= SESSION_STARTED


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        pytest.fail(f"Docker engine not reachable ({exc}); run scripts/ensure-docker.sh")
    if TEST_RUNTIME and TEST_RUNTIME not in client.info().get("Runtimes", {}):
        pytest.fail(f"the engine has no runtime {TEST_RUNTIME!r}; run SANDBOX_RUNTIME={TEST_RUNTIME} ./scripts/install")
    catalog = ImageCatalog(Settings().images_dir, Settings().image_prefix)
    for name in catalog.languages:
        try:
            client.images.get(catalog.image_tag(name))
        except docker.errors.ImageNotFound:
            pytest.fail(f"image {catalog.image_tag(name)} not built; run `sandbox images build --all`")
    yield client
    deadline = time.monotonic() + 10
    while True:
        left = [c for c in client.api.containers(all=True, filters={"label": f"{LABEL_MANAGED}=1"}) if _ours(c)]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    client.close()
    assert not left, f"sandbox containers left after the test session: {[c['Id'][:12] for c in left]}"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(state_dir=tmp_path / "state", pool_size=0, kill_grace_s=1.0)


@pytest.fixture
def service_factory(
    docker_client: docker.DockerClient, request: pytest.FixtureRequest
) -> Iterator[Callable[..., ExecutionService]]:
    """Build services whose containers are labelled with this test's owner id."""
    owners: list[str] = []

    def make(settings: Settings, *, warm: bool = False) -> ExecutionService:
        owner = f"{SESSION_OWNER}-{uuid.uuid4().hex[:8]}"
        owners.append(owner)
        backend = DockerBackend(settings, owner=owner)
        policies = PolicySet(settings.policies_dir, settings.default_policy)
        catalog = ImageCatalog(settings.images_dir, settings.image_prefix)
        return ExecutionService(settings, backend, catalog, policies, warm=warm)

    yield make
    for owner in owners:
        left = docker_client.api.containers(all=True, filters={"label": f"{LABEL_OWNER}={owner}"})
        if left:
            for c in left:
                docker_client.api.remove_container(c["Id"], force=True)
            pytest.fail(f"{request.node.nodeid} leaked containers {[c['Id'][:12] for c in left]}")


@pytest.fixture
async def service(
    settings: Settings, service_factory: Callable[..., ExecutionService]
) -> AsyncIterator[ExecutionService]:
    async with service_factory(settings) as svc:
        yield svc


@pytest.fixture
def run_code(service: ExecutionService) -> Callable[..., object]:
    """``await run_code(code, language=..., policy=..., **limits)`` -> ExecutionResult.

    The policy defaults to ``permissive`` (validation reports, never denies): these
    tests are about the container; tests of validation on the path name a tier.
    """

    async def run(
        code: str, language: str = "python", stdin: str = "", files=(), policy: str = "permissive", **limits
    ) -> ExecutionResult:
        request = ExecutionRequest(
            language=language, code=code, stdin=stdin, files=list(files), limits=Limits(**limits), policy=policy
        )
        return await service.execute(request)

    return run
