"""The client's one exception tree, and the one mapping from an HTTP answer to a class of it.

Only refusals and failures of *requests* are exceptions. What the program did (``timeout``,
``runtime_error``, ``memory_exceeded``...) is the ``status`` of the returned ``ExecutionRecord``::

    SandboxClientError                 every exception below: message, status_code, code, request_id
    ├── ConfigurationError             no server URL (argument or SANDBOX_URL), or a bad one
    ├── TransportError                 the server could not be reached, or the connection broke
    │   └── ClientTimeout              a phase (connect, write, read, pool) ran past its limit
    ├── UnexpectedResponse             a 2xx answer that is not what the API returns (a proxy's page...)
    └── APIError                       the server answered an error (problem+json, or any other body)
        ├── BadRequest                 400, and 422 `rejected` (a field the server refuses); `errors`
        ├── AuthenticationError        401: no key, an unknown or a revoked one
        ├── PermissionDenied           403
        ├── NotFound                   404: no such execution, session, file, artifact or secret
        ├── PayloadTooLarge            413
        ├── ValidationRejected         422 `validation_rejected` / `syntax_error`; `findings`
        ├── RateLimited                429; `retry_after` (retried, bounded)
        ├── CapacityUnavailable        503 `capacity_unavailable`; `retry_after` (retried, bounded)
        └── ServerError                500 and any other 5xx

The problem+json ``code`` (a word of ``sandbox.models.Status``) decides first, the HTTP status
next, so an error keeps its meaning behind a proxy that rewrites one of them.
"""

from __future__ import annotations

import email.utils
import json
import math
import time
from collections.abc import Mapping
from datetime import UTC
from typing import Any

from pydantic import TypeAdapter, ValidationError

from sandbox.models import Finding, Status


class SandboxClientError(Exception):
    """Base of every exception the client raises.

    ``status_code`` is the HTTP status (``None`` when no answer came), ``code`` the problem's word
    of the status vocabulary, ``request_id`` the server's ``X-Request-Id`` (quote it in a report:
    the server's log lines carry it).
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        code: Status | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = code
        self.request_id = request_id
        self.note = ""  # what the client did about it (e.g. why it did not retry), appended to str()

    def __str__(self) -> str:
        context = [f"HTTP {self.status_code}" if self.status_code is not None else "", self.code or ""]
        if self.request_id:
            context.append(f"request id {self.request_id}")
        where = ", ".join(part for part in context if part)
        text = f"{self.message} ({where})" if where else self.message
        return f"{text}; {self.note}" if self.note else text


class ConfigurationError(SandboxClientError):
    """The client cannot be built as asked (no URL, a URL that is not http(s), bad retry bounds)."""


class TransportError(SandboxClientError):
    """No answer: the server could not be reached, or the connection broke before the answer was whole."""


class ClientTimeout(TransportError):
    """One phase of a request ran past the client's limit for it.

    ``phase`` is ``connect``, ``write``, ``read`` or ``pool``; ``limit_s`` the limit that was set.
    After a ``write`` or ``read`` timeout the server may have the request and still be running it.
    """

    def __init__(self, message: str, *, phase: str, limit_s: float | None) -> None:
        super().__init__(message)
        self.phase = phase
        self.limit_s = limit_s


class UnexpectedResponse(SandboxClientError):
    """A success status whose body is not what the API answers there (a proxy, a different service...)."""


class APIError(SandboxClientError):
    """The server answered with an error status. ``body`` is the parsed problem (or the text) it sent.

    ``status_code`` is ``None`` only for a ``BadRequest`` the client refused itself, before sending.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None,
        code: Status | None = None,
        request_id: str | None = None,
        body: Any = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, code=code, request_id=request_id)
        self.body = body
        self.retry_after = retry_after  # seconds, from the Retry-After header (None: none or unreadable)
        self.attempts = 1  # how many times the request was sent before this error was raised


class BadRequest(APIError):
    """The server refused the request as malformed or over a server maximum; ``errors`` lists fields."""

    @property
    def errors(self) -> list[dict[str, Any]]:
        found = self.body.get("errors") if isinstance(self.body, dict) else None
        return list(found) if isinstance(found, list) else []


class AuthenticationError(APIError):
    """401: no API key was sent, or the server does not know it (unknown or revoked)."""


class PermissionDenied(APIError):
    """403: the key may not do this."""


class NotFound(APIError):
    """404: nothing of that name is visible to this key (it may belong to another key, or have ended)."""


class PayloadTooLarge(APIError):
    """413: the request body, or its code and files, are over the server's cap."""


class ValidationRejected(APIError):
    """422: the validation pipeline denied the code; ``findings`` says where and why."""

    @property
    def findings(self) -> list[Finding]:
        raw = self.body.get("findings") if isinstance(self.body, dict) else None
        try:
            return _FINDINGS.validate_python(raw or [])
        except ValidationError:
            return []


class RateLimited(APIError):
    """429: this key's rate or concurrency limit; ``retry_after`` says when to come back."""


class CapacityUnavailable(APIError):
    """503: no sandbox can be had now (pool busy, engine down, image building); ``retry_after``."""


class ServerError(APIError):
    """500 or another 5xx: the server failed (its log, under ``request_id``, says why)."""


_FINDINGS = TypeAdapter(list[Finding])
_BY_CODE: dict[Status, type[APIError]] = {
    Status.VALIDATION_REJECTED: ValidationRejected,
    Status.SYNTAX_ERROR: ValidationRejected,
    Status.CAPACITY_UNAVAILABLE: CapacityUnavailable,
}
_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequest,
    401: AuthenticationError,
    403: PermissionDenied,
    404: NotFound,
    413: PayloadTooLarge,
    422: BadRequest,  # FastAPI's request validation: code `rejected`, with `errors`
    429: RateLimited,
    503: CapacityUnavailable,
}
#: Bytes of a non-JSON error body quoted in the message.
SNIPPET_CHARS = 200


def error_class(status_code: int, code: Status | None) -> type[APIError]:
    """The class for an answer: its ``code`` first (when it names one), then its HTTP status."""
    if code is not None and code in _BY_CODE:
        return _BY_CODE[code]
    if status_code in _BY_STATUS:
        return _BY_STATUS[status_code]
    if status_code >= 500:
        return ServerError
    return BadRequest if 400 <= status_code < 500 else APIError


def from_response(
    status_code: int, headers: Mapping[str, str], content: bytes, reason: str = "", what: str = ""
) -> APIError:
    """The exception for one error answer; ``what`` names the request (``GET /v1/...``) for the message.

    A problem+json body gives the code, message and findings; any other body (a proxy's HTML page,
    an empty 502) still gives a message saying what came back.
    """
    body: Any = None
    code: Status | None = None
    message = ""
    try:
        body = json.loads(content) if content else None
    except (ValueError, UnicodeDecodeError):
        body = None
    if isinstance(body, dict):
        raw_code = body.get("code")
        if isinstance(raw_code, str) and raw_code in Status._value2member_map_:
            code = Status(raw_code)
        text = body.get("message") or body.get("detail")
        message = text if isinstance(text, str) else ""
    if 300 <= status_code < 400:
        message = (
            f"the server answered HTTP {status_code}, a redirect to {headers.get('location', '(no Location)')!r}; "
            "the client follows no redirect (it would carry the key there): use the final address as the URL"
        )
    if not message:
        body = content.decode("utf-8", "replace") if body is None else body
        message = _plain_message(status_code, reason, content, headers.get("content-type", ""))
    if what:
        message = f"{what}: {message}"
    cls = error_class(status_code, code)
    return cls(
        message,
        status_code=status_code,
        code=code,
        request_id=headers.get("x-request-id"),
        body=body,
        retry_after=parse_retry_after(headers.get("retry-after")),
    )


def _plain_message(status_code: int, reason: str, content: bytes, content_type: str) -> str:
    said = f"HTTP {status_code}{' ' + reason if reason else ''}"
    if not content:
        return f"the server answered {said} with an empty body"
    text = " ".join(content.decode("utf-8", "replace").split())
    snippet = text[:SNIPPET_CHARS] + ("..." if len(text) > SNIPPET_CHARS else "")
    kind = content_type.split(";")[0].strip() or "no content type"
    return f"the server answered {said} with a body that is not a problem document ({kind}): {snippet!r}"


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date; ``None`` if unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # "-0000": GMT all the same (an HTTP date is always GMT)
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(seconds, 0.0)
