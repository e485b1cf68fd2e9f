"""Helpers of the observability tests: JSON lines read back, a service on a FakeBackend."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sandbox.config import Settings
from sandbox.engine import FakeBackend, RunOutcome, RunSpec
from sandbox.models import Caller, Status
from sandbox.service import ExecutionService, build_service
from sandbox.store import Store


def lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    """Every line written so far, each parsed (each must be one JSON object)."""
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


def hello(spec: RunSpec) -> RunOutcome:
    return RunOutcome(status=Status.OK, exit_code=0, stdout=b"hello\n", wall_ms=3)


async def slow(spec: RunSpec) -> RunOutcome:
    """A run that takes 1.5 s (a session's opening is at once)."""
    if spec.mode != "session":
        await asyncio.sleep(1.5)
    return RunOutcome(status=Status.OK, exit_code=0, stdout=b"hi\n", wall_ms=1500)


@asynccontextmanager
async def service_on(
    tmp_path: Path, handler: Callable[[RunSpec], RunOutcome] = hello
) -> AsyncIterator[tuple[ExecutionService, Caller, str]]:
    """A started service on a FakeBackend with a store, a caller (key ``alice``) and that key's secret."""
    settings = Settings(state_dir=tmp_path, validation_workers=0, pool_size=0)
    store = Store(settings.database)
    info, secret = store.create_key("alice", "standard", 8, 1000)
    async with build_service(settings, store=store, backend=FakeBackend(handler)) as service:
        yield service, Caller.of(info), secret
    store.close()
