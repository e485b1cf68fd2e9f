"""The API key cache (``sandbox.keycache``): keys in use are confirmed off the request path, and a
revocation still takes effect within ``CACHE_TTL_S``. A real SQLite store; its ``authenticate`` counted."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import keycache as auth
from sandbox.errors import StoreUnavailable, Unauthenticated
from sandbox.store import Store


class CountingStore(Store):
    """The real store, counting the lookups a request makes itself."""

    lookups = 0
    down = False

    def authenticate(self, plaintext: str):  # type: ignore[no-untyped-def]
        self.lookups += 1
        return super().authenticate(plaintext)

    def live_keys(self, digests):  # type: ignore[no-untyped-def]
        if self.down:
            raise StoreUnavailable("the database is down (test)")
        return super().live_keys(digests)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CountingStore]:
    store = CountingStore(f"sqlite:///{tmp_path / 'keys.db'}")
    auth.forget_keys()
    yield store
    auth.forget_keys()
    store.close()


@pytest.fixture(autouse=True)
def fast_refresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "REFRESH_S", 0.1)


async def wait_until(condition, within: float) -> float:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < within, "not within the time"
        await asyncio.sleep(0.01)
    return time.monotonic() - started


def test_without_the_refresher_a_key_is_looked_up_again_after_the_ttl(store: CountingStore) -> None:
    _, secret = store.create_key("k", "standard", 1, 10)

    async def go() -> None:
        await auth.live_key(store, secret, "/v1/x")
        await auth.live_key(store, secret, "/v1/x")
        assert store.lookups == 1  # the second within the TTL
        await asyncio.sleep(auth.CACHE_TTL_S + 0.05)
        await auth.live_key(store, secret, "/v1/x")
        assert store.lookups == 2

    asyncio.run(go())


def test_with_the_refresher_a_key_in_use_is_never_looked_up_by_a_request_again(store: CountingStore) -> None:
    _, secret = store.create_key("k", "standard", 1, 10)

    async def go() -> None:
        async with auth.KeyRefresher(store):
            key = await auth.live_key(store, secret, "/v1/x")
            for _ in range(3):  # requests further apart than the TTL, as an agent's are
                await asyncio.sleep(auth.CACHE_TTL_S + 0.1)
                assert await auth.live_key(store, secret, "/v1/x") == key
            assert store.lookups == 1

    asyncio.run(go())


def test_a_revocation_takes_effect_within_the_ttl_with_the_refresher(store: CountingStore) -> None:
    _, secret = store.create_key("k", "standard", 1, 10)

    async def go() -> None:
        async with auth.KeyRefresher(store):
            await auth.live_key(store, secret, "/v1/x")
            await asyncio.sleep(0.3)  # confirmed a few times meanwhile
            assert store.revoke_key("k")  # from "another process": nothing here is told
            revoked_at = time.monotonic()
            took = await wait_until(lambda: auth.hash_key(secret) not in auth._cache, within=auth.CACHE_TTL_S)
            assert took <= auth.REFRESH_S * 3
            assert time.monotonic() - revoked_at < auth.CACHE_TTL_S
            with pytest.raises(Unauthenticated):
                await auth.live_key(store, secret, "/v1/x")

    asyncio.run(go())


def test_a_key_idle_past_idle_s_is_forgotten(store: CountingStore, monkeypatch: pytest.MonkeyPatch) -> None:
    _, secret = store.create_key("k", "standard", 1, 10)
    monkeypatch.setattr(auth, "IDLE_S", 0.3)

    async def go() -> None:
        async with auth.KeyRefresher(store):
            await auth.live_key(store, secret, "/v1/x")
            await wait_until(lambda: auth.hash_key(secret) not in auth._cache, within=1.0)
            await auth.live_key(store, secret, "/v1/x")
            assert store.lookups == 2

    asyncio.run(go())


def test_while_the_database_fails_the_refresher_confirmations_lapse(store: CountingStore) -> None:
    """No confirmation while the refresher cannot reach the database: past the TTL a request checks its
    key itself (and gets the store's own error when that fails too), never a stale yes."""
    _, secret = store.create_key("k", "standard", 1, 10)

    async def go() -> None:
        async with auth.KeyRefresher(store):
            await auth.live_key(store, secret, "/v1/x")
            store.down = True
            await asyncio.sleep(auth.CACHE_TTL_S + 0.1)
            await auth.live_key(store, secret, "/v1/x")  # the request's own lookup: the key is live
            assert store.lookups == 2
            store.down = False
            await asyncio.sleep(auth.CACHE_TTL_S + 0.1)
            await auth.live_key(store, secret, "/v1/x")
            assert store.lookups == 2  # confirmed by the refresher again

    asyncio.run(go())


def test_a_key_confirmed_by_another_store_is_not_taken_for_this_ones(store: CountingStore, tmp_path: Path) -> None:
    _, secret = store.create_key("k", "standard", 1, 10)
    other = Store(f"sqlite:///{tmp_path / 'other.db'}")
    try:

        async def go() -> None:
            await auth.live_key(store, secret, "/v1/x")
            with pytest.raises(Unauthenticated):
                await auth.live_key(other, secret, "/v1/x")

        asyncio.run(go())
    finally:
        other.close()


def test_the_mcp_endpoint_checks_its_keys_with_the_same_cache(store: CountingStore) -> None:
    """/mcp looked every request's key up in the database itself; now the cache REST uses answers it."""
    import httpx

    from sandbox.mcp.http import McpAuth

    _, secret = store.create_key("agent", "standard", 8, 1000)

    async def accepted(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        await send({"type": "http.response.start", "status": 202, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def go() -> None:
        transport = httpx.ASGITransport(app=McpAuth(accepted, lambda: store))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            for _ in range(3):
                answer = await client.post("/mcp", json={}, headers={"Authorization": f"Bearer {secret}"})
                assert answer.status_code == 202
            assert store.lookups == 1
            refused = await client.post("/mcp", json={}, headers={"Authorization": "Bearer sbx_nope"})
            assert refused.status_code == 401 and refused.json()["message"] == "unknown or revoked API key"
            assert refused.headers["www-authenticate"] == "Bearer"

    asyncio.run(go())


def test_failed_checks_are_audited_at_a_bounded_rate(store: CountingStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A flood of bad tokens (no key needed) writes at most FAILED_AUDITS_PER_S audit rows a second, each
    path cut to MAX_AUDIT_PATH; the next row written says how many failures went unrecorded."""
    monkeypatch.setattr(auth, "_failures", auth._FailureAudit())
    long_path = "/v1/" + "x" * 32_000

    async def go() -> None:
        for n in range(50):
            with pytest.raises(Unauthenticated):
                await auth.live_key(store, f"sbx_bad{n}", long_path)
        await asyncio.sleep(1.05)
        with pytest.raises(Unauthenticated):
            await auth.live_key(store, "sbx_bad", "/mcp")

    started = time.monotonic()
    asyncio.run(go())
    rows = [e for e in store.audit_events(limit=1000) if e["event"] == "auth.failed"]
    assert len(rows) <= 2 * auth.FAILED_AUDITS_PER_S + 1  # the flood spans at most two one-second windows
    if time.monotonic() - started < 2.0:  # one window for the flood: exactly the bound, then the late one
        assert len(rows) == auth.FAILED_AUDITS_PER_S + 1
        assert rows[0]["detail"] == {"path": "/mcp", "unrecorded_before": 50 - auth.FAILED_AUDITS_PER_S}
    assert all(len(row["detail"]["path"]) <= auth.MAX_AUDIT_PATH for row in rows)
