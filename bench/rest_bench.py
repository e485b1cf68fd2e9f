"""REST latency: hello world through HTTP on a warm pool, beside the engine's own warm path and `docker run`.

    .venv/bin/python bench/rest_bench.py [--runs 50]

One interleaved run: each round takes one sample of (a) POST /v1/executions to
`sandbox serve` running as its own process on loopback (keep-alive httpx
client), (b) the engine's warm path in this process (`ExecutionService.execute`
on its own warm pool), (c) `docker run --rm` of the same image through the SDK,
in rotating order, after waiting until both pools are full again (the server's
via /readyz). Results go to stdout and bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import docker
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sandbox.config import Settings  # noqa: E402
from sandbox.engine import DockerBackend  # noqa: E402
from sandbox.engine.wrappers import Wrapper  # noqa: E402
from sandbox.models import ExecutionRequest  # noqa: E402
from sandbox.service import build_service  # noqa: E402
from sandbox.store import Store  # noqa: E402

OWNER = f"bench-rest-{uuid.uuid4().hex[:6]}"
CODE = "print('hello world')"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def start_server(
    state: Path, port: int, *, owner: str = f"{OWNER}-api", pool_size: int = 2, clean_env: bool = False
) -> subprocess.Popen[bytes]:
    """`sandbox serve` on ``port``, returned once /readyz answers 200 (pools full); ``clean_env``: none of
    the caller's SANDBOX_* variables (the one-process path, whatever the shell configures)."""
    env = {k: v for k, v in os.environ.items() if not (clean_env and k.startswith("SANDBOX_"))}
    env.update(
        SANDBOX_STATE_DIR=str(state),
        SANDBOX_POOL_SIZE=str(pool_size),
        SANDBOX_VALIDATION_WORKERS="1",
        SANDBOX_OWNER=owner,
    )
    server = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "sandbox"), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as probe:
        for _ in range(1200):
            with contextlib.suppress(httpx.HTTPError):
                if (await probe.get("/readyz")).status_code == 200:
                    return server
            await asyncio.sleep(0.1)
    server.kill()
    raise RuntimeError("sandbox serve did not become ready")


async def pool_full(http: httpx.AsyncClient) -> None:
    while True:
        pools = (await http.get("/readyz")).json()["pools"]
        if all(p["ready"] >= p["target"] for p in pools.values()):
            return
        await asyncio.sleep(0.01)


async def main(runs: int) -> None:
    state = Path(tempfile.mkdtemp(prefix="rest-bench-"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = await start_server(state, port)
    settings = Settings(state_dir=state, pool_size=2)
    key = Store(settings.database).create_key("bench", "standard", 64, 100_000)[1]
    engine_settings = settings.model_copy(update={"owner": f"{OWNER}-engine", "validation_workers": 0})
    engine = build_service(engine_settings, backend=DockerBackend(engine_settings, owner=f"{OWNER}-engine"))
    client = docker.from_env()
    image = engine.catalog.image_tag("python")
    samples: dict[str, list[float]] = {
        "REST warm": [],
        "engine warm": [],
        "docker run --rm": [],
        "REST session call": [],
    }
    program_ms: list[int] = []
    try:
        async with (
            engine,
            httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"}, timeout=60
            ) as http,
        ):
            backend = engine.backend
            while isinstance(backend, Wrapper):  # the breaker and metering wrap the Docker backend
                backend = backend.inner
            assert isinstance(backend, DockerBackend)
            engine_pool = backend.pool(engine.planner.default_profile("python"))
            assert engine_pool is not None

            async def rest() -> None:
                response = await http.post("/v1/executions", json={"code": CODE})
                assert response.status_code == 200 and response.json()["stdout"] == "hello world\n", response.text
                program_ms.append(response.json()["wall_ms"])

            async def warm() -> None:
                result = await engine.execute(ExecutionRequest(code=CODE))
                assert result.stdout == "hello world\n"

            async def docker_run() -> None:
                await asyncio.to_thread(
                    client.containers.run, image, ["python3", "-c", CODE], remove=True, network_mode="none"
                )

            session_id = (await http.post("/v1/sessions", json={})).json()["id"]
            await http.post(f"/v1/sessions/{session_id}/executions", json={"code": "x = 0"})

            async def session_cell() -> None:
                response = await http.post(f"/v1/sessions/{session_id}/executions", json={"code": "x += 1\nprint(x)"})
                assert response.status_code == 200 and response.json()["status"] == "ok", response.text

            paths = {
                "REST warm": rest,
                "engine warm": warm,
                "docker run --rm": docker_run,
                "REST session call": session_cell,
            }
            for path in paths.values():  # warm-up, not measured
                await path()
            for round_ in range(runs):
                order = list(paths)[round_ % len(paths) :] + list(paths)[: round_ % len(paths)]
                for name in order:
                    await engine_pool.wait_ready()
                    await pool_full(http)
                    started = time.perf_counter()
                    await paths[name]()
                    samples[name].append((time.perf_counter() - started) * 1000)
    finally:
        server.terminate()
        server.wait(timeout=60)
        client.close()

    rows = [
        "| path | n | p50 ms | p95 ms |",
        "|---|---|---|---|",
        *(
            f"| {name} | {len(v)} | {statistics.median(v):.1f} | {percentile(v, 0.95):.1f} |"
            for name, v in samples.items()
        ),
    ]
    rest_p50, engine_p50 = statistics.median(samples["REST warm"]), statistics.median(samples["engine warm"])
    docker_p50 = statistics.median(samples["docker run --rm"])
    session_p50 = statistics.median(samples["REST session call"])
    summary = (
        f"REST warm p50 - engine warm p50 = {rest_p50 - engine_p50:.1f} ms (target <= 5 ms); "
        f"session call p50 = {session_p50:.1f} ms (target < 10 ms); "
        f"docker run / REST warm = {docker_p50 / rest_p50:.1f}x; the program's own wall_ms p50 "
        f"{statistics.median(program_ms):.0f} ms"
    )
    text = "\n".join(rows)
    print(text, "\n", summary, sep="")
    section = (
        f"## REST latency ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)\n\n"
        f"`.venv/bin/python bench/rest_bench.py --runs {runs}` on {os.cpu_count()} cores: hello world, "
        f"interleaved rounds, both pools refilled before every sample, keep-alive HTTP on loopback, "
        f"policy `standard` (verdict cached after the first request).\n\n{text}\n\n{summary}.\n"
    )
    results = ROOT / "bench" / "RESULTS.md"
    existing = results.read_text() if results.exists() else "# Benchmark results\n\n"
    kept = [p for p in re.split(r"(?m)^(?=## )", existing) if p and not p.startswith("## REST latency")]
    results.write_text("".join(kept).rstrip("\n") + "\n\n" + section)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    asyncio.run(main(parser.parse_args().runs))
