"""The error tree: every error maps to a status, an HTTP code and a CLI exit code."""

from __future__ import annotations

import pytest

from sandbox import errors
from sandbox.errors import SandboxError
from sandbox.models import Status


def all_subclasses(cls: type) -> set[type]:
    found: set[type] = set()
    for sub in cls.__subclasses__():
        found |= {sub, *all_subclasses(sub)}
    return found


ERROR_CLASSES = sorted(
    {SandboxError} | {c for c in all_subclasses(SandboxError) if c.__module__ == errors.__name__},
    key=lambda c: c.__name__,
)

#: The table in sandbox/errors.py's docstring: class -> (status, HTTP status, exit code).
TABLE = {
    "SandboxError": (Status.INTERNAL_ERROR, 500, 70),
    "RequestRejected": (Status.REJECTED, 400, 2),
    "Unauthenticated": (Status.REJECTED, 401, 2),
    "Forbidden": (Status.REJECTED, 403, 2),
    "RateLimited": (Status.REJECTED, 429, 2),
    "PayloadTooLarge": (Status.REJECTED, 413, 2),
    "NotFound": (Status.REJECTED, 404, 2),
    "ValidationRejected": (Status.VALIDATION_REJECTED, 422, 2),
    "SyntaxRejected": (Status.SYNTAX_ERROR, 422, 2),
    "CapacityUnavailable": (Status.CAPACITY_UNAVAILABLE, 503, 75),
    "PoolExhausted": (Status.CAPACITY_UNAVAILABLE, 503, 75),
    "CircuitOpen": (Status.CAPACITY_UNAVAILABLE, 503, 75),
    "ImageBuilding": (Status.CAPACITY_UNAVAILABLE, 503, 75),
    "DockerUnavailable": (Status.CAPACITY_UNAVAILABLE, 503, 75),
    "SharedStateUnavailable": (Status.CAPACITY_UNAVAILABLE, 503, 75),
    "DockerFailing": (Status.CAPACITY_UNAVAILABLE, 503, 75),
    "DockerTimeout": (Status.CAPACITY_UNAVAILABLE, 503, 75),
    "WorkerLost": (Status.CAPACITY_UNAVAILABLE, 503, 75),
    "DispatchUnavailable": (Status.CAPACITY_UNAVAILABLE, 503, 75),
    "EngineError": (Status.INTERNAL_ERROR, 500, 70),
    "SecretError": (Status.INTERNAL_ERROR, 500, 70),
    "StoreError": (Status.INTERNAL_ERROR, 500, 70),
}


def test_table_covers_every_error_class() -> None:
    assert {c.__name__ for c in ERROR_CLASSES} == set(TABLE)


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: c.__name__)
def test_status_is_a_status_member(cls: type[SandboxError]) -> None:
    assert isinstance(cls.status, Status)
    assert cls.status in Status


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: c.__name__)
def test_codes_follow_the_table(cls: type[SandboxError]) -> None:
    assert (cls.status, cls.http_status, cls.exit_code) == TABLE[cls.__name__]


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: c.__name__)
def test_every_error_carries_message_and_details(cls: type[SandboxError]) -> None:
    exc = cls("it broke", key="value")
    assert exc.message == "it broke"
    assert str(exc) == "it broke"
    assert exc.details == {"key": "value"}
    assert isinstance(exc, Exception)


def test_http_codes_are_client_or_server_errors() -> None:
    for cls in ERROR_CLASSES:
        rejected = cls.status in (Status.REJECTED, Status.VALIDATION_REJECTED, Status.SYNTAX_ERROR)
        assert (400 <= cls.http_status < 500) == rejected, cls


def test_capacity_errors_say_when_to_retry() -> None:
    assert errors.CapacityUnavailable.retry_after_s >= 1
    for cls in (errors.PoolExhausted, errors.CircuitOpen, errors.DockerUnavailable, errors.SharedStateUnavailable):
        assert issubclass(cls, errors.CapacityUnavailable)


def test_validation_rejected_findings() -> None:
    assert errors.ValidationRejected("no").findings == []
    exc = errors.SyntaxRejected("bad", findings=["line 1"], line=1)
    assert exc.findings == ["line 1"]
    assert exc.details == {"line": 1}
    assert isinstance(exc, errors.ValidationRejected)


def test_hierarchy() -> None:
    for name in ("Unauthenticated", "RateLimited", "PayloadTooLarge", "NotFound"):
        assert issubclass(getattr(errors, name), errors.RequestRejected)
    for name in ("RequestRejected", "ValidationRejected", "CapacityUnavailable", "EngineError"):
        assert issubclass(getattr(errors, name), SandboxError)
