"""A hostile key holder against the key cache (``sandbox.keycache``): a revocation from another process
must refuse the key within ``CACHE_TTL_S``, whatever the refresher's timing, and a database that does
not answer must give 503 with ``Retry-After`` on both doors, never a 500 nor a stale yes."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sandbox import keycache
from sandbox.api.app import create_app
from sandbox.config import Settings
from sandbox.engine import FakeBackend
from sandbox.errors import StoreUnavailable, Unauthenticated
from sandbox.store import Store
from tests.live_uvicorn import uvicorn_in_thread
from tests.security.test_http_dos import hello
from tests.unit.api.test_key_cache import CountingStore, fast_refresh, store  # noqa: F401 (fixtures)


class SlowConfirmations(CountingStore):
    """The refresher's query reads the keys, then takes ``delay`` s to come back (a loaded database or
    thread pool): what it read may be stale by the time it is used."""

    delay = 0.0
    read = threading.Event()

    def live_keys(self, digests):  # type: ignore[no-untyped-def]
        found = super().live_keys(digests)
        self.read.set()
        time.sleep(self.delay)
        return found


@pytest.fixture
def slow(tmp_path: Path) -> Iterator[SlowConfirmations]:
    confirmations = SlowConfirmations(f"sqlite:///{tmp_path / 'slow.db'}")
    confirmations.read = threading.Event()
    keycache.forget_keys()
    yield confirmations
    keycache.forget_keys()
    confirmations.close()


async def refused_within(keys: Store, secret: str, revoked_at: float) -> float:
    """Use the key until it is refused; how long after ``revoked_at`` that was."""
    while True:
        try:
            await keycache.live_key(keys, secret, "/v1/x")
        except Unauthenticated:
            return time.monotonic() - revoked_at
        assert time.monotonic() - revoked_at < 3, "the revoked key is still taken"
        await asyncio.sleep(0.02)


def test_a_revocation_while_a_slow_confirmation_is_in_flight_takes_effect_within_the_ttl(
    slow: SlowConfirmations,
) -> None:
    """The refresher read the key live just before it was revoked and comes back 1.5 s later: its
    confirmation counts from when it began, so it lapses within the TTL of the revocation."""
    _, secret = slow.create_key("k", "standard", 1, 10)
    slow.delay = 1.5

    async def go() -> None:
        async with keycache.KeyRefresher(slow):
            await keycache.live_key(slow, secret, "/v1/x")
            slow.read.clear()
            assert await asyncio.to_thread(slow.read.wait, 2)  # a confirmation read it live...
            assert slow.revoke_key("k")  # ... and then, from "another process", it is revoked
            revoked_at = time.monotonic()
            await asyncio.sleep(slow.delay + 0.2)  # no request meanwhile: the stale confirmation comes back
            assert time.monotonic() - revoked_at > keycache.CACHE_TTL_S
            with pytest.raises(Unauthenticated):
                await keycache.live_key(slow, secret, "/v1/x")
            took = await refused_within(slow, secret, time.monotonic())  # and stays refused
            assert took < 0.1

    asyncio.run(go())


def test_keys_used_steadily_are_refused_within_the_ttl_of_their_revocation(store: CountingStore) -> None:  # noqa: F811
    """Many keys in use through the refresher, one revoked: it goes within the TTL, the others stay."""
    secrets = [store.create_key(f"k{n}", "standard", 1, 10)[1] for n in range(20)]

    async def go() -> None:
        async with keycache.KeyRefresher(store):
            for secret in secrets:
                await keycache.live_key(store, secret, "/v1/x")
            await asyncio.sleep(0.35)
            assert store.revoke_key("k7")
            took = await refused_within(store, secrets[7], time.monotonic())
            assert took < keycache.CACHE_TTL_S, took
            for n, secret in enumerate(secrets):
                if n != 7:
                    await keycache.live_key(store, secret, "/v1/x")

    asyncio.run(go())


def test_clearing_the_cache_at_max_keys_never_brings_back_a_revoked_key(
    store: CountingStore,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(keycache, "MAX_KEYS", 3)
    secrets = [store.create_key(f"k{n}", "standard", 1, 10)[1] for n in range(5)]

    async def go() -> None:
        async with keycache.KeyRefresher(store):
            await keycache.live_key(store, secrets[0], "/v1/x")
            assert store.revoke_key("k0")
            for secret in secrets[1:]:  # the cache fills and starts afresh meanwhile
                await keycache.live_key(store, secret, "/v1/x")
            await asyncio.sleep(keycache.CACHE_TTL_S)
            with pytest.raises(Unauthenticated):
                await keycache.live_key(store, secrets[0], "/v1/x")

    asyncio.run(go())


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(URL, a live key) of a real server on a FakeBackend."""
    settings = Settings(state_dir=tmp_path, validation_workers=0, pool_size=0)
    keycache.forget_keys()
    with uvicorn_in_thread(
        create_app(settings, backend=FakeBackend(hello)), settings=settings, log_level="error"
    ) as url:
        store = Store(settings.database)
        try:
            yield url, store.create_key("k", "standard", 8, 1000)[1]
        finally:
            store.close()
    keycache.forget_keys()


DOORS = [
    ("POST", "/v1/executions"),
    ("GET", "/v1/executions/abc"),
    ("POST", "/mcp"),
    ("GET", "/mcp"),
    ("DELETE", "/mcp"),
]


def test_while_the_database_is_down_both_doors_say_503_with_retry_after(
    served: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key the cache cannot vouch for (unknown, or known but its confirmation lapsed) while the
    database does not answer: 503 and Retry-After on REST and /mcp alike; no key at all: 401."""
    url, key = served

    def down(self: Store, *args: object) -> None:
        raise StoreUnavailable("the database is down (test)")

    headers = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
    with httpx.Client(base_url=url, timeout=10) as client:
        assert client.post("/v1/executions", json={"code": "1"}, headers={"Authorization": f"Bearer {key}"}).is_success
        monkeypatch.setattr(Store, "authenticate", down)
        monkeypatch.setattr(Store, "live_keys", down)
        time.sleep(keycache.CACHE_TTL_S + 0.1)  # the known key's confirmation lapses
        for token in (key, "sbx_not-a-key"):
            for method, path in DOORS:
                answer = client.request(
                    method, path, content=b"{}", headers={**headers, "Authorization": f"Bearer {token}"}
                )
                assert answer.status_code == 503, (method, path, token[:6], answer.status_code, answer.text)
                assert int(answer.headers["retry-after"]) >= 1
        for method, path in DOORS:
            assert client.request(method, path, content=b"{}", headers=headers).status_code == 401, (method, path)
