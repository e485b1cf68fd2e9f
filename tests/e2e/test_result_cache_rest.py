"""The result cache end to end: real HTTP, real containers; the second identical request runs none."""

from __future__ import annotations

import time

import docker
import httpx
import pytest

from sandbox.client import AsyncSandboxClient, SandboxClient
from sandbox.models import ExecutionRecord

CODE = "import time\ntime.sleep(0.3)\nprint('computed', 6 * 7)"


def wait_for_full_pools(client: httpx.Client) -> None:
    """Refills after the first run are over: what happens next on the engine is the second request's."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        pools = client.get("/readyz").json().get("pools", {})
        if pools and all(pool["ready"] >= pool["target"] for pool in pools.values()):
            return
        time.sleep(0.1)
    raise AssertionError(f"the pools did not refill: {pools}")


def hits(client: httpx.Client) -> float:
    """The server's count of result cache hits, from /metrics."""
    for line in client.get("/metrics").text.splitlines():
        if line.startswith('sandbox_result_cache_lookups_total{outcome="hit"}'):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError("no sandbox_result_cache_lookups_total{outcome=hit} in /metrics")


def test_a_second_identical_request_is_a_marked_hit_without_a_container(
    live_server, docker_client: docker.DockerClient
) -> None:
    key = live_server.key("e2e-cache")
    with live_server.client(key) as api, live_server.client() as anonymous:
        body = {"code": CODE, "cache": True}
        began = time.monotonic()
        first = api.post("/v1/executions", json=body)
        ran_s = time.monotonic() - began
        assert first.status_code == 200, first.text
        origin = first.json()
        assert (origin["status"], origin["stdout"], origin["cached"]) == ("ok", "computed 42\n", False)

        wait_for_full_pools(anonymous)
        hits_before = hits(anonymous)
        since = time.time()
        began = time.monotonic()
        second = api.post("/v1/executions", json=body)
        hit_s = time.monotonic() - began
        until = time.time() + 1.0
        time.sleep(1.0)  # any engine work the request set off would have begun by now

        assert second.status_code == 200, second.text
        hit = second.json()
        assert (hit["status"], hit["stdout"], hit["cached"], hit["cached_from"]) == (
            "ok",
            "computed 42\n",
            True,
            origin["id"],
        )
        assert hit["id"] != origin["id"] and hit["wall_ms"] == origin["wall_ms"]  # the run's own figures
        assert hit_s < ran_s and hit_s < 0.3, (hit_s, ran_s)  # the program alone sleeps 0.3 s
        owner = live_server.settings.owner
        events = docker_client.events(
            since=int(since), until=int(until) + 1, filters={"label": f"io.sandbox.owner={owner}"}, decode=True
        )
        # Created or started since the request was sent (the first run's removal may still trail: not counted).
        began_ns = int(since * 1e9)
        made = [e for e in events if e.get("Type") == "container" and e.get("timeNano", 0) >= began_ns]
        assert not [e["Action"] for e in made if e["Action"] in ("create", "start")]
        stored = api.get(f"/v1/executions/{hit['id']}").json()
        assert (stored["cached"], stored["cached_from"]) == (True, origin["id"])
        assert hits(anonymous) == hits_before + 1  # (the metrics are the test process's: a difference)


@pytest.mark.anyio
async def test_the_python_clients_ask_for_the_cache(live_server) -> None:
    key = live_server.key("e2e-cache-client")
    code = "print(sum(range(10)))"
    with SandboxClient(live_server.url, api_key=key) as client:
        first = client.run(code, cache=True)
        second = client.run(code, cache=True)
    async with AsyncSandboxClient(live_server.url, api_key=key) as client:
        third = await client.run(code, cache=True)
        streamed = [item async for item in client.stream(code, cache=True)]
    assert (first.stdout, first.cached) == ("45\n", False)
    for record in (second, third, streamed[-1]):
        assert isinstance(record, ExecutionRecord)
        assert (record.stdout, record.cached, record.cached_from) == ("45\n", True, first.id)
    assert [item.text for item in streamed[:-1]] == ["45\n"]  # the output, as events, then the record
