"""Fixtures shared by the unit tests."""

from __future__ import annotations

from types import ModuleType

import pytest

from tests.unit.helpers import load_runner


@pytest.fixture
def runner() -> ModuleType:
    """A fresh copy of the in-container runner package per test, so monkeypatching stays local."""
    return load_runner()
