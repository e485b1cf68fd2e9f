"""Bearer-key authentication for every ``/v1`` route."""

from __future__ import annotations

import asyncio
import time

from fastapi import Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from sandbox.errors import Unauthenticated
from sandbox.models import ApiKeyInfo, Caller
from sandbox.observability import bind_forever
from sandbox.store import Store, hash_key

bearer = HTTPBearer(auto_error=False, description="An API key from `sandbox keys create`.")


#: Keys seen in the last second, by secret hash: saves a database round trip per request.
#: A revocation therefore takes effect within CACHE_TTL_S (at once in the revoking process).
CACHE_TTL_S = 1.0
_cache: dict[str, tuple[float, ApiKeyInfo]] = {}


def forget_keys() -> None:
    _cache.clear()


async def current_key(request: Request) -> ApiKeyInfo:
    """The caller's live key; 401 (audited) otherwise. Its name is bound to the request's log lines."""
    credentials: HTTPAuthorizationCredentials | None = await bearer(request)
    store: Store = request.app.state.store
    if credentials is None or not credentials.credentials:
        raise Unauthenticated("missing `Authorization: Bearer <key>` header")
    digest = hash_key(credentials.credentials)
    cached = _cache.get(digest)
    if cached is not None and time.monotonic() - cached[0] < CACHE_TTL_S:
        bind_forever(key=cached[1].name)
        return cached[1]
    key = await asyncio.to_thread(store.authenticate, credentials.credentials)
    if key is not None:
        if len(_cache) > 10_000:
            _cache.clear()
        _cache[digest] = (time.monotonic(), key)
    if key is None:
        await asyncio.to_thread(store.audit, "auth.failed", None, path=request.url.path)
        raise Unauthenticated("unknown or revoked API key")
    bind_forever(key=key.name)  # the request's task: the rest of its lines say whose it is
    return key


async def current_caller(request: Request) -> Caller:
    """The caller every ``/v1`` route acts for: the live key's identity, tier ceiling and limits."""
    return Caller.of(await current_key(request))
