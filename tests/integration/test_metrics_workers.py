"""`sandbox serve --workers 2` for real: whichever worker answers a scrape, the figures are the sum of both.

Each worker keeps its own warm pool (size 1 here), so the pool size summed over
the workers is 2 only if both workers' figures reach every scrape; executions
run through either worker are counted once each, in every scrape.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import docker
import httpx
from prometheus_client.parser import text_string_to_metric_families

from sandbox.config import Settings
from sandbox.engine.hardening import LABEL_OWNER
from sandbox.store import Store
from tests.docker_fixtures import SESSION_OWNER

RUNS = 6


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _figures(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _total(figures: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    want = set(labels.items())
    return sum(v for (n, ls), v in figures.items() if n == name and want <= ls)


def test_every_scrape_sums_both_workers(tmp_path: Path, docker_client: docker.DockerClient) -> None:
    state, port, owner = tmp_path / "state", _free_port(), f"{SESSION_OWNER}-workers"
    state.mkdir()
    stale = state / "metrics" / str(port)
    stale.mkdir(parents=True)
    (stale / "counter_1.db").write_bytes(b"left by an earlier server")
    store = Store(Settings(state_dir=state).database)
    key = store.create_key("workers", "standard", 16, 10_000)[1]
    store.close()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SANDBOX_")},
        "SANDBOX_STATE_DIR": str(state),
        "SANDBOX_POOL_SIZE": "1",
        "SANDBOX_POOL_MAX": "1",  # a fixed pool: the summed target stays 2 whatever the runs' timing
        "SANDBOX_VALIDATION_WORKERS": "1",
        "SANDBOX_OWNER": owner,
    }
    sandbox = Path(sys.executable).parent / "sandbox"
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [str(sandbox), "serve", "--workers", "2", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
            deadline = time.monotonic() + 90
            while True:  # both workers up, their pools filled and reported
                assert server.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
                try:
                    figures = _figures(client.get("/metrics").text)
                    if _total(figures, "sandbox_pool_ready") == 2:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, f"pools not reported by both workers: {figures}"
                time.sleep(0.2)
            assert _total(figures, "sandbox_pool_target") == 2
            ok = {"status": "ok", "language": "python", "policy": "standard"}
            before = _total(figures, "sandbox_executions_total", **ok)
            for i in range(RUNS):
                result = client.post("/v1/executions", json={"code": f"print({i})"}).json()
                assert result["status"] == "ok", result
            time.sleep(1.0)  # an execution is counted when its record stage ends (batched writes: 250 ms)
            scrapes = [_figures(client.get("/metrics").text) for _ in range(8)]
            for figures in scrapes:  # whichever worker answered
                assert _total(figures, "sandbox_executions_total", **ok) == before + RUNS
                assert _total(figures, "sandbox_pool_target") == 2
                assert _total(figures, "sandbox_stage_duration_seconds_count", stage="run") >= RUNS
                posts = _total(figures, "sandbox_http_requests_total", route="/v1/executions", method="POST")
                assert posts == RUNS
            assert not (stale / "counter_1.db").exists()  # the directory was emptied at start
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
    deadline = time.monotonic() + 15
    while docker_client.api.containers(all=True, filters={"label": f"{LABEL_OWNER}={owner}"}):
        assert time.monotonic() < deadline, "the workers left containers behind"
        time.sleep(0.2)
