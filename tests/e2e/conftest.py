"""A live uvicorn on loopback serving the real app (Docker backend, SQLite file), and keys for it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from sandbox.api import create_app
from sandbox.config import Settings
from sandbox.store import Store
from tests.docker_fixtures import SESSION_OWNER, docker_client  # noqa: F401
from tests.live_uvicorn import uvicorn_in_thread


@dataclass
class LiveServer:
    url: str
    settings: Settings
    store: Store

    def key(self, name: str, policy: str = "standard", concurrency: int = 64, rate: int = 10_000) -> str:
        return self.store.create_key(name, policy, concurrency, rate)[1]

    def client(self, key: str | None = None, **kwargs: object) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, **kwargs)


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory, docker_client) -> Iterator[LiveServer]:  # noqa: F811
    state: Path = tmp_path_factory.mktemp("state")
    settings = Settings(
        state_dir=state,
        pool_size=2,
        max_concurrency=16,
        validation_workers=1,
        owner=f"{SESSION_OWNER}-rest",
        request_bytes=1 << 20,
    )
    app = create_app(settings)
    with uvicorn_in_thread(app, start_timeout=60, log_level="warning", timeout_keep_alive=5) as url:
        store = Store(settings.database)
        try:
            yield LiveServer(url, settings, store)
        finally:
            store.close()
    left = docker_client.api.containers(all=True, filters={"label": f"io.sandbox.owner={settings.owner}"})
    assert not left, f"the server left containers behind: {[c['Id'][:12] for c in left]}"
