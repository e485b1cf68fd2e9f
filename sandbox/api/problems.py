"""Errors as ``application/problem+json`` (RFC 9457), translated in this one place.

Body: ``type`` (a stable URN per status), ``title``, ``status`` (the HTTP code),
``detail`` (the message), ``code`` (the service's status vocabulary) and, for
validation denials, ``findings``. A client mistake is never a 500; anything
unexpected is a 500 with no details, and the exception goes to the log.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from sandbox.errors import CapacityUnavailable, RateLimited, SandboxError, Unauthenticated, ValidationRejected
from sandbox.models import Finding, Status

log = logging.getLogger(__name__)


class Problem(BaseModel):
    """RFC 9457 problem details with the service's status vocabulary in ``code``."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    findings: list[Finding] | None = None
    errors: list[dict[str, Any]] | None = None


MEDIA_TYPE = "application/problem+json"
TITLES = {
    400: "Bad request",
    401: "Unauthenticated",
    404: "Not found",
    405: "Method not allowed",
    413: "Payload too large",
    422: "Unprocessable request",
    429: "Too many requests",
    500: "Internal error",
    503: "Capacity unavailable",
}


def documented(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for these error codes."""
    return {
        code: {"model": Problem, "description": TITLES.get(code, "Error"), "content": {MEDIA_TYPE: {}}}
        for code in codes
    }


def problem(
    http_status: int, code: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body = {
        "type": f"urn:sandbox:problem:{code}",
        "title": TITLES.get(http_status, "Error"),
        "status": http_status,
        "detail": detail,
        "code": code,
        **extra,
    }
    return JSONResponse(body, status_code=http_status, media_type=MEDIA_TYPE, headers=headers)


def sandbox_error(exc: SandboxError) -> JSONResponse:
    headers: dict[str, str] = {}
    extra: dict[str, Any] = {}
    if isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="sandbox"'
    if isinstance(exc, RateLimited | CapacityUnavailable):
        headers["Retry-After"] = str(exc.retry_after_s)
    if isinstance(exc, ValidationRejected):
        extra["findings"] = [f.model_dump() for f in exc.findings]
    if exc.http_status >= 500 and not isinstance(exc, CapacityUnavailable):
        log.error("request failed: %s", exc.message)
    return problem(exc.http_status, exc.status.value, exc.message, headers or None, **extra)


def install(app: FastAPI) -> None:
    """Register the handlers; starlette finds them along each exception's MRO."""

    @app.exception_handler(SandboxError)
    async def _sandbox(_: Request, exc: SandboxError) -> JSONResponse:
        return sandbox_error(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": [str(part) for part in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        detail = f"{'.'.join(first['loc'][1:]) or 'body'}: {first['msg']}"
        return problem(422, Status.REJECTED.value, detail, errors=errors)

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        return problem(exc.status_code, Status.REJECTED.value, str(exc.detail), exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return problem(500, Status.INTERNAL_ERROR.value, "internal error")
