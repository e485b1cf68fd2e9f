"""Fixtures of the observability tests: logs captured in our format, spans in memory."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from sandbox.api.app import create_app
from sandbox.config import Settings
from sandbox.engine import FakeBackend
from sandbox.observability import tracing
from sandbox.observability.logs import configure_logging
from sandbox.store import Store
from tests.live_uvicorn import uvicorn_in_thread
from tests.unit.observability.util import slow

Configure = Callable[..., io.StringIO]


@pytest.fixture
def logs() -> Iterator[Configure]:
    """``logs(log_format="json", log_level="debug")``: configure_logging onto a buffer; undone afterwards."""
    root = logging.getLogger()
    saved = root.level, list(root.handlers)
    watched = ("uvicorn", "uvicorn.error", "uvicorn.access", "mcp.server.lowlevel.server")
    saved_loggers = {name: (logging.getLogger(name).level, logging.getLogger(name).propagate) for name in watched}

    def configure(**settings: Any) -> io.StringIO:
        buffer = io.StringIO()
        configure_logging(Settings(**{"log_format": "json", "log_level": "debug", **settings}), stream=buffer)
        return buffer

    yield configure
    for handler in list(root.handlers):
        if handler not in saved[1]:
            root.removeHandler(handler)
    for handler in saved[1]:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(saved[0])
    for name, (level, propagate) in saved_loggers.items():
        logging.getLogger(name).setLevel(level)
        logging.getLogger(name).propagate = propagate


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on for the test, every finished span kept in memory."""
    exporter = Flushing()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with tracing.installed(provider):
        yield exporter


class Flushing(InMemorySpanExporter):
    """Spans are made a moment after the answer (``tracing.later``): reading them makes them now."""

    def get_finished_spans(self) -> Any:
        tracing.flush()
        return super().get_finished_spans()


@pytest.fixture
def mcp_server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A live uvicorn (its loggers through ours) on a FakeBackend whose runs take 1.5 s: (MCP url, key)."""
    settings = Settings(state_dir=tmp_path, validation_workers=0, pool_size=0)
    app = create_app(settings, backend=FakeBackend(slow))
    with uvicorn_in_thread(app, log_config=None, ws="none") as url:
        store = Store(settings.database)
        try:
            yield f"{url}/mcp", store.create_key("agent", "standard", 8, 1000)[1]
        finally:
            store.close()
