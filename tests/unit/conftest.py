"""Fixtures shared by the unit tests."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from tests.unit.helpers import load_runner


@pytest.fixture
def runner() -> ModuleType:
    """A fresh copy of the in-container runner package per test, so monkeypatching stays local."""
    return load_runner()


@pytest.fixture
def workdir(runner: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty directory as the runner's workdir (``workspace.WORKDIR``) for this test."""
    work = tmp_path / "workspace"
    work.mkdir()
    monkeypatch.setattr(runner.workspace, "WORKDIR", str(work))
    return work
