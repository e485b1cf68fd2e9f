"""Shared fixtures: a clean environment, and the anyio backend for async tests."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No SANDBOX_* variable from the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith("SANDBOX_"):
            monkeypatch.delenv(name)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


DOCKER_DIRS = ("integration", "security", "e2e")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/integration and tests/security needs the real engine."""
    for item in items:
        if any(f"/tests/{d}/" in str(item.path) for d in DOCKER_DIRS):
            item.add_marker(pytest.mark.docker)
