"""Bearer-key authentication for every ``/v1`` route."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

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
    token = credentials.credentials if credentials is not None else None
    key = await live_key(request.app.state.store, token, request.url.path)
    bind_forever(key=key.name)  # the request's task: the rest of its lines say whose it is
    return key


def bearer_token(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The token of a raw ASGI ``Authorization: Bearer <token>`` header, if there is one."""
    for name, value in headers:
        if name.lower() == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return (token.strip() or None) if scheme.lower() == "bearer" else None
    return None


async def live_key(store: Store, token: str | None, path: str) -> ApiKeyInfo:
    """The live key ``token`` is (remembered for CACHE_TTL_S); ``Unauthenticated`` otherwise (audited when
    a token was sent)."""
    if not token:
        raise Unauthenticated("missing `Authorization: Bearer <key>` header")
    digest = hash_key(token)
    cached = _cache.get(digest)
    if cached is not None and time.monotonic() - cached[0] < CACHE_TTL_S:
        return cached[1]
    key = await asyncio.to_thread(store.authenticate, token)
    if key is None:
        await asyncio.to_thread(store.audit, "auth.failed", None, path=path)
        raise Unauthenticated("unknown or revoked API key")
    if len(_cache) > 10_000:
        _cache.clear()
    _cache[digest] = (time.monotonic(), key)
    return key


async def current_caller(request: Request) -> Caller:
    """The caller every ``/v1`` route acts for: the live key's identity, tier ceiling and limits."""
    return Caller.of(await current_key(request))
