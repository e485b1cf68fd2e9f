"""The one error tree of the service, and the one mapping to statuses and codes.

Failures of the *program* (timeouts, OOM, non-zero exit) are results, not
exceptions. These classes are for requests we refuse or could not carry out::

    SandboxError                      internal_error        500  exit 70
    ├── RequestRejected               rejected              400  exit 2
    │   ├── Unauthenticated           rejected              401
    │   ├── Forbidden                 rejected              403
    │   ├── RateLimited               rejected              429
    │   ├── PayloadTooLarge           rejected              413
    │   └── NotFound                  rejected              404
    ├── ValidationRejected            validation_rejected   422  exit 2
    │   └── SyntaxRejected            syntax_error          422
    ├── CapacityUnavailable           capacity_unavailable  503  exit 75
    │   ├── PoolExhausted
    │   ├── CircuitOpen
    │   ├── ImageBuilding
    │   ├── DockerUnavailable
    │   ├── SharedStateUnavailable
    │   └── DockerFailing
    │       └── DockerTimeout
    ├── EngineError                   internal_error        500  exit 70
    ├── SecretError                   internal_error        500
    └── StoreError                    internal_error        500

Each door translates an exception in exactly one place: ``error_body`` gives
the one error object (``models.ErrorBody``: code, message, findings) and the
class attributes below give the HTTP status and the CLI exit code; anything
that is not a ``SandboxError`` is ``internal_error`` with no details (the door
logs its traceback).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import ValidationError

from sandbox.models import ErrorBody, Status


class SandboxError(Exception):
    """Base of every error the service raises on purpose."""

    status: ClassVar[Status] = Status.INTERNAL_ERROR
    http_status: ClassVar[int] = 500
    exit_code: ClassVar[int] = 70

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class RequestRejected(SandboxError):
    """The request is malformed or asks for more than the server allows."""

    status = Status.REJECTED
    http_status = 400
    exit_code = 2


class Unauthenticated(RequestRejected):
    """Missing or unknown credentials."""

    http_status = 401


class Forbidden(RequestRejected):
    """A live key without the permission the route needs (e.g. ``ops`` for ``/v1/ops``)."""

    http_status = 403


class RateLimited(RequestRejected):
    """Too many requests or concurrent executions for this caller."""

    http_status = 429
    retry_after_s: int = 1


class PayloadTooLarge(RequestRejected):
    """The request body or its code and files exceed the size cap."""

    http_status = 413


class NotFound(RequestRejected):
    """An execution or session lookup found nothing visible to the caller."""

    http_status = 404


class ValidationRejected(SandboxError):
    """The validation pipeline denied the code; ``findings`` says why."""

    status = Status.VALIDATION_REJECTED
    http_status = 422
    exit_code = 2

    def __init__(self, message: str, findings: list[Any] | None = None, **details: Any) -> None:
        super().__init__(message, **details)
        self.findings = findings or []


class SyntaxRejected(ValidationRejected):
    """The code does not parse."""

    status = Status.SYNTAX_ERROR


class CapacityUnavailable(SandboxError):
    """No container can be had right now; the caller may retry later."""

    status = Status.CAPACITY_UNAVAILABLE
    http_status = 503
    exit_code = 75
    retry_after_s: int = 1


class PoolExhausted(CapacityUnavailable):
    """Every execution slot is busy and the wait for one timed out."""


class CircuitOpen(CapacityUnavailable):
    """The engine failed repeatedly; calls are refused until it recovers."""


class ImageBuilding(CapacityUnavailable):
    """The language's runtime image is being built (first use) or its build just failed; retry later."""

    retry_after_s = 15


class SharedStateUnavailable(CapacityUnavailable):
    """The store of the rate limits and concurrency slots shared by every replica (Redis) does not answer.

    Refusing is the safe side: admitting without it would let every replica spend a key's whole
    rate. The message never carries the Redis URL (it may hold a password).
    """

    retry_after_s = 2


class DockerUnavailable(CapacityUnavailable):
    """The Docker engine does not answer."""


class DockerFailing(CapacityUnavailable):
    """The engine answered with a server error or not in time (often: it is restarting); retried, counted."""


class DockerTimeout(DockerFailing):
    """The engine did not answer within ``engine_timeout_s``: counted, never retried (a hung engine
    would only make the caller wait the whole timeout again)."""


class WorkerLost(CapacityUnavailable):
    """Scale-out: the worker running the execution stopped (crash, SIGKILL, lost host). The program
    was not run again (it may have had effects); the caller decides whether to retry."""


class DispatchUnavailable(CapacityUnavailable):
    """Scale-out: the dispatch queue (Redis) cannot be reached, or no worker is alive to take work."""

    retry_after_s = 2


class EngineError(SandboxError):
    """A container could not be created, started or spoken to."""


class SecretError(SandboxError):
    """A secret could not be stored or revealed; the message never holds a value."""


class StoreError(SandboxError):
    """Persistence failed."""


def error_body(exc: BaseException) -> ErrorBody:
    """The error object a door returns for ``exc``; an unexpected exception reveals nothing."""
    if not isinstance(exc, SandboxError):
        return ErrorBody(code=Status.INTERNAL_ERROR, message="internal error")
    findings = exc.findings if isinstance(exc, ValidationRejected) else []
    return ErrorBody(code=exc.status, message=exc.message, findings=findings)


def invalid_request(exc: ValidationError) -> RequestRejected:
    """A request model that did not validate, as a refusal naming the first bad field."""
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    where = ".".join(str(part) for part in first.get("loc", ())) or exc.title
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return RequestRejected(f"{where}: {first.get('msg', 'invalid')}{more}")
