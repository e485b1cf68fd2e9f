"""Docker fixtures, and the rows that are known gaps of the runtime under test.

A corpus program whose header says ``xfail-under-runsc: <reason>`` is a strict xfail when
the suite runs under gVisor (``SANDBOX_RUNTIME=runsc``): its expectations do not change,
they are recorded as not holding there, and the row fails as soon as gVisor holds it.
"""

from __future__ import annotations

import pytest

from sandbox.engine.hardening import is_gvisor
from tests.conftest import TEST_RUNTIME
from tests.docker_fixtures import docker_client, run_code, service, service_factory, settings  # noqa: F401


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if not is_gvisor(TEST_RUNTIME):
        return
    for item in items:
        callspec = getattr(item, "callspec", None)
        program = callspec.params.get("program") if callspec else None
        reason = getattr(program, "xfail_under_runsc", None)
        if reason:
            item.add_marker(pytest.mark.xfail(strict=True, reason=f"gVisor ({TEST_RUNTIME}): {reason}"))
