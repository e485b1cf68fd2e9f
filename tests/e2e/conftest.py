"""A live uvicorn on loopback serving the real app (Docker backend, SQLite file), and keys for it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from sandbox.api import create_app
from sandbox.config import Settings
from sandbox.store import Store
from tests.docker_fixtures import SESSION_OWNER, docker_client  # noqa: F401


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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    port = _free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", timeout_keep_alive=5, lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    store = Store(settings.database)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", settings, store)
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        store.close()
    left = docker_client.api.containers(all=True, filters={"label": f"io.sandbox.owner={settings.owner}"})
    assert not left, f"the server left containers behind: {[c['Id'][:12] for c in left]}"
