"""Where a piece of work came from: the request id and trace context of the HTTP request that asked.

The request middleware binds both for its own task. Work that the request hands
to *another* task whose context was copied elsewhere needs them handed over: an
MCP tool call runs in the MCP session's task, whose context is a copy of the
request that opened the session, not of the request carrying the call. The
middleware leaves an ``Origin`` in the ASGI scope; the MCP door calls
``resume()`` in the tool's task, so its log lines and spans belong to the
request that carried the call.
"""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry.context import Context

from sandbox.observability import tracing
from sandbox.observability.context import bind_forever

#: The ASGI scope key the middleware leaves an ``Origin`` under.
SCOPE_KEY = "sandbox.origin"


@dataclass(frozen=True)
class Origin:
    """One request's id, and its span's context when tracing is on."""

    request_id: str
    trace: Context | None = None

    def resume(self) -> None:
        """Bind the request id and make the request's span current, for the rest of this task."""
        bind_forever(request_id=self.request_id)
        tracing.resume(self.trace)


def resume(scope: object) -> None:
    """``resume()`` the ``Origin`` an ASGI scope carries, if it carries one."""
    origin = scope.get(SCOPE_KEY) if isinstance(scope, dict) else None
    if isinstance(origin, Origin):
        origin.resume()
