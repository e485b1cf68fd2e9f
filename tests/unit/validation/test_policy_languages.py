"""A tier says which languages it runs (issue 11, class 7): strict validates Python only, so it runs Python only.

Checked at admission, through the same service entry points every door uses,
before any validation or container: on the fake backend, nothing may be acquired.
"""

from __future__ import annotations

import pytest

from sandbox.config import PROJECT_ROOT, Settings
from sandbox.engine import FakeBackend, ImageCatalog, RunOutcome
from sandbox.errors import ValidationRejected
from sandbox.models import Caller, ExecutionRequest, SessionRequest, Status
from sandbox.service import ExecutionService
from sandbox.validation import PolicySet

pytestmark = pytest.mark.anyio

CATALOG = ImageCatalog(PROJECT_ROOT / "images")
STRICT_KEY = Caller(key_id="k-strict", policy="strict")
STANDARD_KEY = Caller(key_id="k-standard", policy="standard")


@pytest.fixture
def service() -> tuple[ExecutionService, FakeBackend]:
    settings = Settings()
    backend = FakeBackend(lambda spec: RunOutcome(status=Status.OK, exit_code=0))
    return ExecutionService(settings, backend, CATALOG, PolicySet(settings.policies_dir, "standard")), backend


def test_the_shipped_tiers_say_which_languages_they_run() -> None:
    policies = PolicySet(Settings().policies_dir, "standard")
    assert policies.get("strict").languages == ("python",)
    assert policies.get("standard").languages is None  # every installed language
    assert policies.get("permissive").languages is None


@pytest.mark.parametrize("language", ["bash", "sh", "BASH"])
async def test_a_strict_key_cannot_run_a_language_its_tier_does_not_validate(service, language: str) -> None:
    svc, backend = service
    request = ExecutionRequest(language=language, code="echo hi")
    with pytest.raises(ValidationRejected) as caught:
        await svc.execute(request, caller=STRICT_KEY)
    (finding,) = caught.value.findings
    assert finding.rule_id == "language.not_allowed"
    assert finding.source == "policy"
    assert "'bash' is not allowed by policy 'strict'" in finding.message
    assert "python" in finding.message
    assert backend.specs == [], "a refused language reached the engine"


async def test_asking_for_strict_explicitly_is_refused_the_same_way(service) -> None:
    svc, backend = service
    with pytest.raises(ValidationRejected, match="not allowed by policy 'strict'"):
        await svc.execute(ExecutionRequest(language="bash", code="echo hi", policy="strict"))
    assert backend.specs == []


async def test_validation_alone_is_refused_too(service) -> None:
    svc, _ = service
    with pytest.raises(ValidationRejected, match="language 'bash'"):
        await svc.check(ExecutionRequest(language="bash", code="echo hi"), caller=STRICT_KEY)


async def test_a_strict_session_in_another_language_is_refused_for_the_language(service) -> None:
    svc, backend = service
    with pytest.raises(ValidationRejected, match="language 'bash'"):
        await svc.open_session(SessionRequest(language="bash"), STRICT_KEY, "s1")
    assert backend.specs == []


async def test_the_tiers_that_allow_a_language_still_run_it(service) -> None:
    svc, backend = service
    await svc.execute(ExecutionRequest(language="bash", code="echo hi"), caller=STANDARD_KEY)
    await svc.execute(ExecutionRequest(language="python", code="print(1)"), caller=STRICT_KEY)
    assert [spec.mode for spec in backend.specs] == ["exec", "restricted"]
