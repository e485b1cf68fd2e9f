"""Which API key a request carries, checked against the database and remembered (every door that takes keys).

A key seen lately is remembered, by secret hash, with the time the database last
confirmed it live; it is used only while that confirmation is under
``CACHE_TTL_S`` old, so a revocation (from any process) takes effect within
``CACHE_TTL_S``. While a server runs, its ``KeyRefresher`` confirms the keys used
in the last ``IDLE_S`` again every ``REFRESH_S``, all in one query, off the
request path: a key used every few seconds (an agent's pace) never waits for the
database, which cost a request ~1 ms (a query in a thread) each time its key's
confirmation had lapsed. A key idle for longer, or every key while the database
does not answer the refresher, is confirmed by the request itself, as without it.

A failed check is audited (``auth.failed``, with the path asked for, cut to
``MAX_AUDIT_PATH``), at most ``FAILED_AUDITS_PER_S`` rows a second: past that,
failures are counted and the next row written says how many went unrecorded
(``unrecorded_before``). A client needs no key to fail, so without the bound a
flood of bad tokens grew the audit table without end, 32 KiB of path a row.

No FastAPI here: the MCP door (``sandbox.mcp.http``) checks its keys with the same
cache, and the REST door's dependencies (``sandbox.api.auth``) build on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType

from sandbox.errors import SandboxError, Unauthenticated
from sandbox.models import ApiKeyInfo
from sandbox.store import Store, hash_key

log = logging.getLogger(__name__)

#: How old a key's last confirmation may be when a request uses it (module docstring).
CACHE_TTL_S = 1.0
#: How often a running server confirms the keys in use, and how long a key stays in use unseen.
REFRESH_S = 0.4
IDLE_S = 300.0
#: Past this many remembered keys the cache starts afresh (one address cannot grow it without end).
MAX_KEYS = 10_000
#: The bound on the audit of failed checks (module docstring).
FAILED_AUDITS_PER_S = 5
MAX_AUDIT_PATH = 256


@dataclass
class _Remembered:
    key: ApiKeyInfo
    store: Store  # the database that confirmed it (a process may serve several, as the tests do)
    confirmed: float  # time.monotonic() when the query that found it live began
    used: float


_cache: dict[str, _Remembered] = {}


def forget_keys() -> None:
    _cache.clear()


class _FailureAudit:
    """``auth.failed`` rows, at most FAILED_AUDITS_PER_S a second (module docstring)."""

    def __init__(self) -> None:
        self.second = 0.0  # when the current one-second window began
        self.written = 0  # rows written in it
        self.unrecorded = 0  # failures not written since the last row

    async def record(self, store: Store, path: str) -> None:
        now = time.monotonic()
        if now - self.second >= 1.0:
            self.second, self.written = now, 0
        if self.written >= FAILED_AUDITS_PER_S:
            self.unrecorded += 1
            return
        self.written += 1
        detail: dict[str, object] = {"path": path[:MAX_AUDIT_PATH]}
        if self.unrecorded:
            detail["unrecorded_before"], self.unrecorded = self.unrecorded, 0
        await asyncio.to_thread(store.audit, "auth.failed", None, **detail)


_failures = _FailureAudit()


def bearer_token(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The token of a raw ASGI ``Authorization: Bearer <token>`` header, if there is one."""
    for name, value in headers:
        if name.lower() == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return (token.strip() or None) if scheme.lower() == "bearer" else None
    return None


async def live_key(store: Store, token: str | None, path: str) -> ApiKeyInfo:
    """The live key ``token`` is (confirmed within CACHE_TTL_S); ``Unauthenticated`` otherwise (audited when
    a token was sent)."""
    if not token:
        raise Unauthenticated("missing `Authorization: Bearer <key>` header")
    digest = hash_key(token)
    remembered = _cache.get(digest)
    now = time.monotonic()
    if remembered is not None and remembered.store is store and now - remembered.confirmed < CACHE_TTL_S:
        remembered.used = now
        return remembered.key
    key = await asyncio.to_thread(store.authenticate, token)
    if key is None:
        _cache.pop(digest, None)
        await _failures.record(store, path)
        raise Unauthenticated("unknown or revoked API key")
    if len(_cache) >= MAX_KEYS:
        _cache.clear()
    _cache[digest] = _Remembered(key, store, now, now)  # ``now``: before the query began
    return key


class KeyRefresher:
    """While a server runs (``async with``), confirms ``store``'s remembered keys every REFRESH_S
    (module docstring): the live ones' confirmations move on, revoked or deleted ones are forgotten,
    and keys unused for IDLE_S are forgotten too."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    async def __aenter__(self) -> KeyRefresher:
        self._task = asyncio.create_task(self._run(), name="key-refresher")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_S)
            try:
                await self.refresh()
            except Exception:  # a bug here must not end the server's refreshing (nor its shutdown)
                log.exception("confirming the API keys in use failed")

    async def refresh(self) -> None:
        """One round: confirm the keys in use, forget the rest."""
        began = time.monotonic()
        digests = []
        for digest, remembered in list(_cache.items()):
            if remembered.store is not self.store:
                continue
            if began - remembered.used >= IDLE_S:
                del _cache[digest]
            else:
                digests.append(digest)
        if not digests:
            return
        try:
            live = await asyncio.to_thread(self.store.live_keys, digests)
        except SandboxError as exc:  # their confirmations lapse: requests confirm their keys themselves
            if not self._failing:
                log.warning("cannot confirm the API keys in use (%s); requests will check them", exc.message)
            self._failing = True
            return
        self._failing = False
        for digest in digests:
            current = _cache.get(digest)
            if current is None or current.store is not self.store:
                continue
            if digest in live:
                current.key = live[digest]
                current.confirmed = max(current.confirmed, began)
            else:
                del _cache[digest]
