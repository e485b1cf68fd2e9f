"""Image builds against the real engine: the version label, and an on-demand build of a tiny image.

The tiny image is a toy language under a test prefix whose Dockerfile only copies the runner onto
the base: it builds in a second or two, through the same ``ImageBuilder`` (probe, label, tag) and
``ImageBuilds`` (one background build, 503 meanwhile) as a real language. Its base is the real base
image under the test prefix's name (a second tag, not a second debootstrap).
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from sandbox.config import PROJECT_ROOT, Settings
from sandbox.engine import ImageBuilds, ImageCatalog, ImageState
from sandbox.engine.hardening import LABEL_OWNER
from sandbox.engine.images import VERSION_LABEL
from sandbox.errors import ImageBuilding

pytestmark = pytest.mark.anyio
REAL = ImageCatalog(PROJECT_ROOT / "images")


def test_every_built_image_carries_its_version(docker_client: docker.DockerClient) -> None:
    for name in sorted(REAL.languages):
        labels = docker_client.images.get(REAL.image_tag(name)).labels
        version = labels.get(VERSION_LABEL, "")
        assert version, f"{name}: no {VERSION_LABEL} label (run `sandbox images build --all`)"
        assert "\n" not in version


TOY_DOCKERFILE = """\
ARG BASE=debian:bookworm-slim
FROM ${BASE}
COPY sandbox_runner/*.py /opt/sandbox/sandbox_runner/
USER 65534:65534
WORKDIR /workspace
"""
TOY_TOML = """\
language = "toy"
main_file = "main.py"
argv = ["python3", "main.py"]
version_command = ["python3", "-c", "print('toy 1.2.3'); print('second line')"]
description = "a test image"
"""


@pytest.fixture
def toy(tmp_path: Path, docker_client: docker.DockerClient) -> Iterator[Settings]:
    images = tmp_path / "images"
    for folder in ("base", "runner"):
        shutil.copytree(PROJECT_ROOT / "images" / folder, images / folder, ignore=shutil.ignore_patterns("__pycache__"))
    (images / "toy").mkdir()
    (images / "toy" / "Dockerfile").write_text(TOY_DOCKERFILE)
    (images / "toy" / "image.toml").write_text(TOY_TOML)
    prefix = f"sbxtest{uuid.uuid4().hex[:6]}"
    catalog = ImageCatalog(images, prefix)
    base = docker_client.images.get(REAL.base_tag())
    repo, _, version = catalog.base_tag().partition(":")
    base.tag(repo, version)
    try:
        yield Settings(images_dir=images, image_prefix=prefix, state_dir=tmp_path / "state")
    finally:
        for image in docker_client.images.list(name=f"{prefix}-toy"):
            docker_client.images.remove(image.id, force=True)
        docker_client.images.remove(catalog.base_tag())


async def test_an_image_is_built_once_on_demand_and_gets_its_version(
    toy: Settings, docker_client: docker.DockerClient
) -> None:
    builds = ImageBuilds.from_settings(toy)
    tag = builds.catalog.image_tag("toy")
    assert (await builds.states())["toy"] == ImageState(False)
    refusals = await asyncio.gather(*(builds.ensure("toy") for _ in range(4)), return_exceptions=True)
    assert all(isinstance(r, ImageBuilding) for r in refusals), refusals
    assert builds.building() == ["toy"]
    for _ in range(600):
        if not builds.building():
            break
        await asyncio.sleep(0.1)
    await builds.ensure("toy")  # built now
    assert docker_client.images.get(tag).labels[VERSION_LABEL] == "toy 1.2.3"
    assert docker_client.images.get(f"{toy.image_prefix}-toy:latest").id == docker_client.images.get(tag).id
    assert (await builds.states())["toy"] == ImageState(True, "toy 1.2.3")
    # The version probe's container is gone.
    probes = docker_client.api.containers(all=True, filters={"label": f"{LABEL_OWNER}=image-build"})
    assert [c for c in probes if c["Image"] in (tag, docker_client.images.get(tag).id)] == []
    # A new process (a fresh ImageBuilds) reads the version from the image, without building.
    again = ImageBuilds.from_settings(toy)
    await again.ensure("toy")
    assert again.cached("toy") == ImageState(True, "toy 1.2.3") and again.building() == []


async def test_a_run_in_a_language_whose_image_is_missing_is_a_503_until_its_build_is_done(toy: Settings) -> None:
    """The request path itself (``DockerBackend.acquire``): refused with Retry-After while the one
    build runs, then the same request runs in the new image."""
    from sandbox.errors import CapacityUnavailable
    from sandbox.models import ExecutionRequest, Status
    from sandbox.service import build_service

    settings = toy.model_copy(
        update={"pool_size": 0, "validation_workers": 0, "policies_dir": PROJECT_ROOT / "policies"}
    )
    request = ExecutionRequest(language="toy", code="print('built on first use')", policy="permissive")
    async with build_service(settings, warm=False) as service:
        with pytest.raises(ImageBuilding) as refused:
            await service.execute(request)
        assert isinstance(refused.value, CapacityUnavailable) and refused.value.status is Status.CAPACITY_UNAVAILABLE
        assert "being built" in refused.value.message
        for _ in range(600):
            try:
                result = await service.execute(request)
                break
            except ImageBuilding:
                await asyncio.sleep(0.1)
        else:
            pytest.fail("the toy image was not built in 60 s")
    assert result.status is Status.OK and result.stdout == "built on first use\n"
