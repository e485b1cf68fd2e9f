"""Shared fixtures: a clean environment, and the anyio backend for async tests."""

from __future__ import annotations

import os

import pytest

#: The OCI runtime the Docker tests run under: ``SANDBOX_RUNTIME=runsc pytest tests/security`` runs them
#: under gVisor. Read once, before ``clean_environ`` empties the environment; unit tests never see it.
TEST_RUNTIME = os.environ.get("SANDBOX_RUNTIME", "")
#: The image prefix the Docker tests use (``SANDBOX_IMAGE_PREFIX``, read once like the runtime): a second
#: worktree builds and tests its own images without touching another's.
TEST_IMAGE_PREFIX = os.environ.get("SANDBOX_IMAGE_PREFIX", "")


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    """No SANDBOX_* variable from the developer's shell leaks into a test, but the runtime and the image
    prefix into Docker tests."""
    for name in list(os.environ):
        if name.startswith("SANDBOX_"):
            monkeypatch.delenv(name)
    if TEST_RUNTIME and request.node.get_closest_marker("docker"):
        monkeypatch.setenv("SANDBOX_RUNTIME", TEST_RUNTIME)
    if TEST_IMAGE_PREFIX and request.node.get_closest_marker("docker"):
        monkeypatch.setenv("SANDBOX_IMAGE_PREFIX", TEST_IMAGE_PREFIX)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


DOCKER_DIRS = ("integration", "security", "e2e")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/integration and tests/security needs the real engine."""
    for item in items:
        if any(f"/tests/{d}/" in str(item.path) for d in DOCKER_DIRS):
            item.add_marker(pytest.mark.docker)


pytest_plugins = ["tests.servers"]  # postgres_url, redis_url: real servers on loopback
