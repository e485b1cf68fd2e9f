"""What the MCP tools stand on: the managers their host started, and who is calling.

The server is built before the service exists (the API builds it with the app,
`sandbox mcp` before its event loop), so tools reach the managers through a
function that returns the ``Door`` once the host has started them.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mcp.server.mcpserver import Context

from sandbox.engine import image_builds, language_facts
from sandbox.errors import Unauthenticated
from sandbox.executions import ExecutionManager
from sandbox.models import ApiKeyInfo, Caller
from sandbox.observability import bind_forever, origin
from sandbox.service import ExecutionService
from sandbox.sessions import SessionManager
from sandbox.store import Store

if TYPE_CHECKING:
    Ctx = Context[Any, Any]
else:  # the SDK finds the context parameter by its annotation: the plain class at run time
    Ctx = Context


@dataclass
class Door:
    """What the tools need; set by whoever hosts the MCP server (the API app or `sandbox mcp`)."""

    service: ExecutionService
    store: Store
    executions: ExecutionManager
    sessions: SessionManager
    stdio_key: ApiKeyInfo | None = None


def caller(door: Callable[[], Door], ctx: Ctx) -> tuple[Door, Caller]:
    """The managers and the caller of this tool call: the HTTP request's key, else the stdio key."""
    current = door()
    request = getattr(ctx.request_context, "request", None)
    if request is not None:
        # This call may run in another task than the HTTP request's: take over the request id and
        # trace context of the request that carried it, for its log lines and spans.
        origin.resume(request.scope)
    key = request.scope.get("sandbox_key") if request is not None else current.stdio_key
    if key is None:
        raise Unauthenticated("no API key for this connection")
    bind_forever(key=key.name)  # this tool call's own task
    return current, Caller.of(key)


def local_key(store: Store, policy: str, concurrency: int, rate: int) -> ApiKeyInfo:
    """The key stdio connections run as (created on first use, named ``mcp-stdio``)."""
    for key in store.list_keys():
        if key.name == "mcp-stdio" and key.revoked_at is None:
            return key
    info, _ = store.create_key("mcp-stdio", policy, concurrency, rate)
    return info


async def info(service: ExecutionService) -> dict[str, list[dict[str, Any]]]:
    """Languages (with their runtimes and whether their image is built) and validation policies."""
    # Built images and their versions come from a cache; Docker is asked only about missing ones.
    states = await image_builds(service.settings).states()
    return {
        "languages": [language_facts(spec, states[name]) for name, spec in sorted(service.catalog.languages.items())],
        "policies": [
            {"name": p.name, "strictness": p.strictness, "description": p.description}
            for p in sorted(service.policies.policies.values(), key=lambda p: p.strictness)
        ],
    }
