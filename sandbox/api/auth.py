"""Bearer-key authentication for every ``/v1`` route."""

from __future__ import annotations

import asyncio

from fastapi import Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from sandbox.errors import Unauthenticated
from sandbox.models import ApiKeyInfo

bearer = HTTPBearer(auto_error=False, description="An API key from `sandbox keys create`.")


async def current_key(request: Request) -> ApiKeyInfo:
    """The caller's live key; 401 (audited) otherwise."""
    credentials: HTTPAuthorizationCredentials | None = await bearer(request)
    store = request.app.state.store
    if credentials is None or not credentials.credentials:
        raise Unauthenticated("missing `Authorization: Bearer <key>` header")
    key = await asyncio.to_thread(store.authenticate, credentials.credentials)
    if key is None:
        await asyncio.to_thread(store.audit, "auth.failed", None, path=request.url.path)
        raise Unauthenticated("unknown or revoked API key")
    return key
