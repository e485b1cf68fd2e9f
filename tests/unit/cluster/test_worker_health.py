"""The worker's probe server: the API's guarded protocol and its settings' connection limits."""

from __future__ import annotations

import socket
from typing import Any, cast

import httpx
import pytest

from sandbox.api.worker_health import health_app
from sandbox.cluster.worker import Worker
from sandbox.config import Settings
from tests.live_uvicorn import uvicorn_in_thread


class StubWorker:
    """What the probes read of a worker."""

    name = "w1"

    async def readiness(self) -> dict[str, Any]:
        return {"ready": False, "engine": "down"}


@pytest.mark.parametrize("protocol", ["httptools", "h11"])
def test_probes_answer_under_the_settings_connection_limits(protocol: str) -> None:
    settings = Settings(max_connections_per_client=1, http_protocol=protocol)
    app = health_app(cast(Worker, StubWorker()), settings)
    with uvicorn_in_thread(app, settings=settings, log_level="error") as url:
        port = int(url.rsplit(":", 1)[1])
        with httpx.Client(base_url=url) as client:  # holds this address's one connection
            assert client.get("/healthz").json() == {"status": "ok", "worker": "w1"}
            assert client.get("/readyz").status_code == 503
            with socket.create_connection(("127.0.0.1", port)) as second:
                second.settimeout(5)
                assert second.recv(4096).startswith(b"HTTP/1.1 503 "), "the cap from the settings is not applied"
