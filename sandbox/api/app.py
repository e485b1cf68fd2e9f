"""The FastAPI application: composition, lifespan and the server's own limits.

``create_app(settings)`` builds everything at start-up (store, service with its
warm pools and validation workers, execution manager) and closes it at shutdown.
On a first start with no API key at all, one is created and printed once.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.routing import Route
from starlette.types import ASGIApp, Scope

from sandbox import __version__, heap
from sandbox.api import docs, examples, metering, ops_routes, problems, secret_routes, web
from sandbox.api.answers import AnswerWindows
from sandbox.api.connections import LIMITS_STATE, ConnectionLimits
from sandbox.api.guard import BodyGuard
from sandbox.api.requestid import RequestContext
from sandbox.api.routes import health, router
from sandbox.api.shutdown import GracefulShutdown
from sandbox.config import Settings
from sandbox.engine import Backend
from sandbox.executions import ExecutionManager
from sandbox.keycache import KeyRefresher, bearer_token, live_key
from sandbox.mcp import Door, build_mcp, http_endpoint
from sandbox.observability import exposition, tracing
from sandbox.observability.logs import configure_logging
from sandbox.observability.tracing import configure_tracing
from sandbox.service import build_service
from sandbox.sessions import SessionManager
from sandbox.store import Store

log = logging.getLogger(__name__)
#: Paths whose every request needs a key: a body sent to them without a live one is never read; the only
#: paths whose routes take a body (elsewhere none is read).
KEYED = ("/v1/", "/mcp")
#: What the body cap is made of and how to raise it (``Settings.max_body_bytes``), said by every 413 of it.
BODY_CAP_REASON = (
    "2 x SANDBOX_REQUEST_BYTES + 64 KiB, room for base64 and JSON escaping of a request at the payload cap; "
    "raise SANDBOX_REQUEST_BYTES (at most SANDBOX_MAX_REQUEST_BYTES) for larger requests"
)


class SandboxAPI(FastAPI):
    """FastAPI with the request context around everything, starlette's error middleware included:
    a 500 answer carries its request id too, and so does the server's log line about it. Inside it,
    each request's answer window (``AnswerWindows``): cleanup after a run waits for its answer."""

    def build_middleware_stack(self) -> ASGIApp:
        return RequestContext(AnswerWindows(super().build_middleware_stack()), self.router.routes)

    def openapi(self) -> dict[str, Any]:
        """The document, built once: every route tagged by its path (``docs.TAG_OF_PREFIX``) and every
        request and response model with examples (``examples.EXAMPLES``), which the models do not carry."""
        if self.openapi_schema is None:
            self.openapi_schema = examples.attach(docs.tag_operations(super().openapi()))
        return self.openapi_schema


def create_app(settings: Settings, *, backend: Backend | None = None) -> FastAPI:
    """The app; ``backend`` replaces the Docker one (tests of the doors use a ``FakeBackend``)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        store = await asyncio.to_thread(Store, settings.database, output_bytes=settings.keep_output_bytes)
        # The first key, shown once; not by scale-out replicas (several start at once): `sandbox keys create`.
        if not settings.redis_url and await asyncio.to_thread(store.count_keys) == 0:
            info, plaintext = await asyncio.to_thread(
                store.create_key,
                "default",
                settings.default_policy,
                settings.default_key_concurrency,
                settings.default_key_rate_per_min,
            )
            print(
                f"Created the first API key ({info.name}, policy {info.policy}); it is shown only once:\n"
                f"  {plaintext}\n",
                file=sys.stderr,
                flush=True,
            )
        svc = build_service(settings, store=store, backend=backend, start_without_engine=True)
        async with svc, mcp_server.session_manager.run(), KeyRefresher(store):
            manager = ExecutionManager(svc)
            manager.start()
            sessions = SessionManager(svc, manager)
            sessions.start()
            app.state.store, app.state.service, app.state.manager = store, svc, manager
            app.state.sessions = sessions
            app.state.door = Door(svc, store, manager, sessions)

            async def drain(hurry: asyncio.Event) -> None:
                sessions.stop_admitting()
                await manager.drain(settings.shutdown_grace_s, hurry)

            shutdown = GracefulShutdown(drain)
            shutdown.install()
            try:
                yield {LIMITS_STATE: ConnectionLimits.of(settings)}  # to the server's connections (uvicorn)
            finally:
                try:
                    await shutdown.finish()
                finally:
                    await manager.aclose()
                    await sessions.aclose()
        store.close()
        tracing.flush()  # the last executions' spans, made now rather than never
        exposition.process_stopped()  # a worker's live gauges leave the sums with it

    app = SandboxAPI(
        title="sandbox",
        version=__version__,
        summary="Run untrusted code in one-shot hardened containers.",
        lifespan=lifespan,
        openapi_tags=docs.TAGS,
        docs_url=None,  # FastAPI's pages load their scripts from a CDN: docs.install serves them locally
        redoc_url=None,
    )
    problems.install(app)
    docs.install(app)
    web.install(app)  # the playground at / and the operations page at /ops (built from web/)
    app.include_router(health)
    app.include_router(router)
    app.include_router(secret_routes.router)
    app.include_router(ops_routes.router)
    if settings.metrics:
        app.include_router(metering.router)
    # MCP over streamable HTTP, with the same keys, managers and limits as REST.
    mcp_server = build_mcp(lambda: app.state.door, settings)
    endpoint = http_endpoint(mcp_server, lambda: app.state.store, settings.max_body_bytes)
    app.router.routes.append(Route("/mcp", endpoint, methods=None))

    async def authenticate(scope: Scope) -> None:
        """Every body of the keyed doors comes from a live key, checked before the body is read."""
        if scope["path"].startswith(KEYED):
            await live_key(app.state.store, bearer_token(scope["headers"]), scope["path"])

    app.add_middleware(
        BodyGuard,
        max_bytes=settings.max_body_bytes,
        cap_reason=BODY_CAP_REASON,
        max_depth=settings.max_json_depth,
        timeout_s=settings.body_timeout_s,
        authenticate=authenticate,
        bodies=KEYED,  # no other route takes a body: elsewhere one is not read (nor waited for)
    )
    if settings.metrics:
        app.add_middleware(metering.HttpMetrics, routes=app.router.routes)  # outermost: sees every answer
    return app


def app_from_env() -> FastAPI:
    """uvicorn factory (``sandbox serve``): settings from the environment, loaded once per worker.

    Each worker process sets up its own logging and tracing here (uvicorn's loggers included).
    """
    settings = Settings()
    configure_logging(settings)
    configure_tracing(settings)
    app = create_app(settings)
    heap.settle()  # what start-up built stays for the process's life: no full collection walks it again
    return app
