"""Bearer-key authentication for every ``/v1`` route: FastAPI's side of ``sandbox.keycache``."""

from __future__ import annotations

from fastapi import Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from sandbox.keycache import live_key
from sandbox.models import ApiKeyInfo, Caller
from sandbox.observability import bind_forever

bearer = HTTPBearer(auto_error=False, description="An API key from `sandbox keys create`.")


async def current_key(request: Request) -> ApiKeyInfo:
    """The caller's live key; 401 (audited) otherwise. Its name is bound to the request's log lines."""
    credentials: HTTPAuthorizationCredentials | None = await bearer(request)
    token = credentials.credentials if credentials is not None else None
    key = await live_key(request.app.state.store, token, request.url.path)
    bind_forever(key=key.name)  # the request's task: the rest of its lines say whose it is
    return key


async def current_caller(request: Request) -> Caller:
    """The caller every ``/v1`` route acts for: the live key's identity, tier ceiling and limits."""
    return Caller.of(await current_key(request))
