"""An engine that accepts connections and never answers costs a call one ``engine_timeout_s``, not more.

A fake Docker API on a Unix socket answers the version probe, pings and listings,
and never answers anything else (a hung dockerd): no retry of a timed-out call,
no nested removals after it, a shutdown that gives up after a bounded wait.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import socketserver
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.config import Settings
from sandbox.engine.docker import DockerEngine, ManagedContainer
from sandbox.engine.hardening import container_options
from sandbox.errors import DockerTimeout
from sandbox.instance import current
from sandbox.observability import metrics

pytestmark = pytest.mark.anyio
TIMEOUT_S = 0.4


class HungEngine(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path: Path) -> None:
        self.seen: list[str] = []
        self.release = threading.Event()
        self.answers_pings = True
        super().__init__(str(path), Handler)


class Handler(http.server.BaseHTTPRequestHandler):
    server: HungEngine
    protocol_version = "HTTP/1.1"

    def address_string(self) -> str:  # a Unix socket has no (host, port)
        return "unix"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _answer(self) -> None:
        path = self.path.split("?")[0]
        self.server.seen.append(f"{self.command} {path}")
        if path.endswith("/version"):
            self._json({"ApiVersion": "1.41", "Version": "20.10.24"})
        elif path.endswith("/_ping") and self.server.answers_pings:
            self._json("OK")
        elif path.endswith("/containers/json"):
            self._json([])
        else:
            self.server.release.wait(30)  # hung: the client gives up first

    def _json(self, value: object) -> None:
        body = json.dumps(value).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = _answer


@pytest.fixture
def hung(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HungEngine]:
    server = HungEngine(tmp_path / "docker.sock")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'docker.sock'}")
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()


def timeouts_counted() -> float:
    return metrics.ENGINE_ERRORS.labels("timeout")._value.get()  # type: ignore[attr-defined]


async def test_a_hung_creation_fails_after_one_timeout_and_leaves_its_removal_to_the_janitor(
    hung: HungEngine, tmp_path: Path
) -> None:
    settings = Settings(state_dir=tmp_path)
    engine = DockerEngine(threads=4, timeout_s=TIMEOUT_S)
    await engine.connect()
    options = container_options(
        ("python", 256, 64, 64, 5.0), settings, owner="unit", kind="cold", lifetime_s=60, instance=current().label
    )
    before = timeouts_counted()
    started = time.monotonic()
    with pytest.raises(DockerTimeout) as raised:
        await engine.create(options, "cold")
    elapsed = time.monotonic() - started
    assert "did not answer in time" in raised.value.message
    assert elapsed < 3 * TIMEOUT_S, elapsed  # one timeout: not retried, no removal waited for
    assert [r for r in hung.seen if not r.endswith(("/version", "/_ping"))] == ["POST /v1.41/containers/create"]
    assert timeouts_counted() == before + 1

    started = time.monotonic()
    await engine.aclose(sweep="sandbox.unit=1")
    assert time.monotonic() - started < 4 * TIMEOUT_S


async def test_a_hung_engine_is_a_bounded_wait_for_every_call(hung: HungEngine) -> None:
    engine = DockerEngine(threads=4, timeout_s=TIMEOUT_S)
    await engine.connect()
    for call in (engine.remove("c0ffee"), engine.call("inspect a container", engine.api.inspect_container, "c0ffee")):
        started = time.monotonic()
        with pytest.raises(DockerTimeout):
            await call
        assert time.monotonic() - started < 2 * TIMEOUT_S
    await engine.aclose()


async def test_a_failing_ping_is_not_an_engine_error_in_the_metrics(hung: HungEngine) -> None:
    """The breaker's watcher pings ten times a second during an outage: those are not calls that failed."""
    engine = DockerEngine(threads=2, timeout_s=TIMEOUT_S)
    await engine.connect()
    hung.answers_pings = False
    kinds = ("unavailable", "failing", "timeout", "error")
    before = [metrics.ENGINE_ERRORS.labels(k)._value.get() for k in kinds]  # type: ignore[attr-defined]
    with pytest.raises(DockerTimeout):
        await engine.ping()
    assert [metrics.ENGINE_ERRORS.labels(k)._value.get() for k in kinds] == before  # type: ignore[attr-defined]
    await engine.aclose()


async def test_a_removal_under_way_is_not_an_orphan_for_the_janitor(hung: HungEngine) -> None:
    """The janitor would count (and remove again) a container whose removal is still waiting on the engine."""
    engine = DockerEngine(threads=2, timeout_s=TIMEOUT_S)
    await engine.connect()
    container = ManagedContainer("c0ffee", {}, "sandbox-c0ffee")
    removal = asyncio.create_task(engine.remove(container.id))
    await asyncio.sleep(TIMEOUT_S / 4)
    assert engine.owns(container)
    with pytest.raises(DockerTimeout):
        await removal
    assert not engine.owns(container)
    await engine.aclose()
