"""Errors as ``application/problem+json`` (RFC 9457), translated in this one place.

The body is RFC 9457's problem details wrapped around the service's one error
object (``models.ErrorBody``, the same JSON an MCP tool error carries): ``type``
(a stable URN per code), ``title``, ``status`` (the HTTP status code, as the RFC
says), ``detail`` (the message), and the error object's ``code`` (the status
vocabulary), ``message`` and ``findings``. A client mistake is never a 500;
anything unexpected is a 500 with no details, and its traceback goes to the log.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from sandbox.errors import CapacityUnavailable, RateLimited, SandboxError, Unauthenticated, error_body
from sandbox.models import ErrorBody, Finding, Status

log = logging.getLogger(__name__)


class Problem(BaseModel):
    """RFC 9457 problem details around the error object (``code``, ``message``, ``findings``)."""

    type: str
    title: str
    status: int
    detail: str
    code: Status
    message: str
    findings: list[Finding] = []
    errors: list[dict[str, Any]] | None = None


MEDIA_TYPE = "application/problem+json"
TITLES = {
    400: "Bad request",
    401: "Unauthenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    408: "Request timeout",
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


def problem(http_status: int, body: ErrorBody, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    """The response for one error object at one HTTP status."""
    content = {
        "type": f"urn:sandbox:problem:{body.code.value}",
        "title": TITLES.get(http_status, "Error"),
        "status": http_status,
        "detail": body.message,
        **body.model_dump(mode="json"),
        **extra,
    }
    return JSONResponse(content, status_code=http_status, media_type=MEDIA_TYPE, headers=headers)


def error_response(exc: BaseException) -> JSONResponse:
    """Any exception as a problem; only a ``SandboxError`` says more than "internal error"."""
    if not isinstance(exc, SandboxError):
        log.error("unexpected error", exc_info=exc)
        return problem(500, error_body(exc))
    headers: dict[str, str] = {}
    if isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="sandbox"'
    if isinstance(exc, RateLimited | CapacityUnavailable):
        headers["Retry-After"] = str(exc.retry_after_s)
    if exc.http_status >= 500 and not isinstance(exc, CapacityUnavailable):
        log.error("request failed: %s", exc.message)
    return problem(exc.http_status, error_body(exc), headers or None)


def install(app: FastAPI) -> None:
    """Register the handlers; starlette finds them along each exception's MRO."""

    @app.exception_handler(SandboxError)
    async def _sandbox(_: Request, exc: SandboxError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": [str(part) for part in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        detail = f"{'.'.join(first['loc'][1:]) or 'body'}: {first['msg']}"
        return problem(422, ErrorBody(code=Status.REJECTED, message=detail), errors=errors)

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        headers = dict(exc.headers) if exc.headers else None
        return problem(exc.status_code, ErrorBody(code=Status.REJECTED, message=str(exc.detail)), headers)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        return error_response(exc)
