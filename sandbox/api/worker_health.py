"""``sandbox worker``'s process: the worker, and its own HTTP (``/healthz``, ``/readyz``, ``/metrics``).

A worker serves no API: this is what its orchestrator probes and Prometheus scrapes. The worker
itself is ``sandbox.cluster.worker``; this door composes it (the CLI's ``worker`` command runs ``serve``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox import heap
from sandbox.api.connections import LIMITS_STATE, ConnectionLimits, server_options
from sandbox.cluster.worker import Worker
from sandbox.config import Settings
from sandbox.observability import exposition


def health_app(worker: Worker, settings: Settings) -> Starlette:
    """``/healthz`` (the process answers), ``/readyz`` (engine, breaker, pools, Redis) and ``/metrics``,
    served with the connection limits of ``settings`` (the same guarded protocol as the API's)."""

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "worker": worker.name})

    async def readyz(request: Request) -> Response:
        report = await worker.readiness()
        return JSONResponse(report, status_code=200 if report["ready"] else 503)

    async def metrics(request: Request) -> Response:
        exposition.refresh()
        return Response(exposition.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        yield {LIMITS_STATE: ConnectionLimits.of(settings)}  # to the server's connections (uvicorn)

    routes = [Route("/healthz", healthz), Route("/readyz", readyz), Route("/metrics", metrics)]
    return Starlette(routes=routes, lifespan=lifespan)


def _health_server_class() -> Any:
    import uvicorn

    class HealthServer(uvicorn.Server):
        """uvicorn without its signal handlers: the worker's own handle SIGTERM (and drain first)."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return HealthServer


async def serve(settings: Settings) -> None:
    """Build this host's engine stack (no store, no validation: replicas do both) and run a worker."""
    import uvicorn

    from sandbox.api.worker_health import health_app
    from sandbox.service import build_service

    _HealthServer = _health_server_class()
    settings = settings.model_copy(update={"validation_workers": 0})
    service = build_service(settings, local_engine=True, start_without_engine=True)
    worker = Worker(settings, service)
    heap.settle()  # start-up's objects stay for the process's life: no full collection walks them again
    server = None
    if settings.worker_port:
        # The API's protocol and limits; its loop is the worker's (``loop_factory``, in the CLI).
        config = uvicorn.Config(
            health_app(worker, settings), host=settings.worker_host, port=settings.worker_port, log_config=None,
            log_level="warning", lifespan="on", **server_options(settings),
        )  # fmt: skip
        server = _HealthServer(config)
        health = asyncio.create_task(server.serve(), name="worker-health")
    try:
        await worker.run()
    finally:
        if server is not None:
            server.should_exit = True
            await health
