"""Where the cases run: this machine's engine in-process, or a deployment over REST.

Both targets turn every answer into an outcome (``judge.Outcome``): a result when
the program ran or could not (``capacity_unavailable``, ``internal_error``, a client
timeout), a ``Rejection`` when the request was refused. Only a failure that stops
every case (no engine, an unreachable URL, a refused key, a key whose tier forbids
``permissive``) is an exception, ``CouldNotRun``: the selftest then says so and exits
with its own code instead of reporting a hundred misses that say nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Protocol

import httpx
from pydantic import ValidationError

from sandbox.config import Settings
from sandbox.errors import CircuitOpen, DockerUnavailable, SandboxError, ValidationRejected
from sandbox.models import ErrorBody, ExecutionRecord, ExecutionRequest, ExecutionResult, Status
from sandbox.selftest.judge import Outcome, Rejection

if TYPE_CHECKING:
    from sandbox.service import ExecutionService

#: How long a request refused for capacity or rate (503, 429) is retried, honouring Retry-After.
RETRY_BUDGET_S = 120.0
RETRY_AFTER_MAX_S = 10.0


class CouldNotRun(Exception):
    """The target cannot run any case; the message says why and what to check."""


class Target(Protocol):
    """Runs one request and answers with its outcome."""

    #: What the report names as the target (``local`` or the URL; never the key).
    name: str
    #: The engine runs on this machine, so paths a program tried to create on the host can be checked.
    on_host: bool

    async def run(self, request: ExecutionRequest, timeout_s: float) -> Outcome: ...


def no_answer(timeout_s: float) -> ExecutionResult:
    return ExecutionResult(status=Status.INTERNAL_ERROR, message=f"no answer within {timeout_s:g} s")


class LocalTarget:
    """This machine's engine through an in-process ``ExecutionService``, as ``sandbox run`` uses it."""

    on_host = True

    def __init__(self, service: ExecutionService, runtime: str | None) -> None:
        self.service = service
        self.name = f"local (runtime {runtime or 'engine default'})"

    async def run(self, request: ExecutionRequest, timeout_s: float) -> Outcome:
        try:
            return await asyncio.wait_for(self.service.execute(request), timeout_s)
        except TimeoutError:
            return no_answer(timeout_s)
        except ValidationRejected as exc:
            return Rejection.of(exc)
        except (DockerUnavailable, CircuitOpen) as exc:
            raise CouldNotRun(f"the Docker engine stopped answering: {exc.message}") from exc
        except SandboxError as exc:
            if exc.status is Status.REJECTED:
                return Rejection(exc.status, exc.message, details=exc.details)
            return ExecutionResult(status=exc.status, message=f"{type(exc).__name__}: {exc.message}")


@asynccontextmanager
async def local(settings: Settings) -> AsyncIterator[LocalTarget]:
    """An in-process service (no warm pool, no store); every container of it is removed when the block ends."""
    from sandbox.service import build_service

    service = build_service(settings, warm=False)
    try:
        await service.start()  # closes what it started if it fails
    except SandboxError as exc:
        raise CouldNotRun(f"the local engine did not start: {exc.message}") from exc
    try:
        yield LocalTarget(service, settings.runtime)
    finally:
        await service.aclose()


class RestTarget:
    """A running deployment: ``POST /v1/executions`` (waiting for the result) with the key as Bearer."""

    on_host = False

    def __init__(self, client: httpx.AsyncClient, url: str) -> None:
        self.client = client
        self.name = url

    async def run(self, request: ExecutionRequest, timeout_s: float) -> Outcome:
        body = request.model_dump(mode="json", exclude_defaults=True)
        deadline = time.monotonic() + RETRY_BUDGET_S
        while True:
            try:
                response = await self.client.post("/v1/executions", json=body, timeout=timeout_s)
            except httpx.TimeoutException:
                return no_answer(timeout_s)
            except (httpx.TransportError, httpx.InvalidURL) as exc:
                raise CouldNotRun(f"cannot reach {self.name}: {exc or type(exc).__name__}") from exc
            if response.status_code not in (429, 503) or time.monotonic() > deadline:
                return self._outcome(response)
            await asyncio.sleep(_retry_after(response))

    def _outcome(self, response: httpx.Response) -> Outcome:
        status = response.status_code
        if status == 200:
            try:
                record = ExecutionRecord.model_validate_json(response.content)
            except ValidationError as exc:
                raise CouldNotRun(f"{self.name} answered 200 without an execution record: is it a sandbox?") from exc
            if record.status is None:
                return ExecutionResult(status=Status.INTERNAL_ERROR, message="the server answered a running record")
            return record
        try:
            error = ErrorBody.model_validate_json(response.content)
        except ValidationError:
            raise CouldNotRun(f"{self.name}/v1/executions answered HTTP {status} without an error object") from None
        if status == 401:
            raise CouldNotRun(f"the server refused the key: {error.message}")
        if status == 400 and "this key's tier" in error.message:
            raise CouldNotRun(f"{error.message} (V-off runs need a key created with --policy permissive)")
        if status < 500 and status not in (429, 503):
            return Rejection(error.code, error.message, tuple(error.findings))
        return ExecutionResult(status=error.code, message=f"HTTP {status}: {error.message}")


def _retry_after(response: httpx.Response) -> float:
    try:
        return min(max(float(response.headers.get("Retry-After", "1")), 0.1), RETRY_AFTER_MAX_S)
    except ValueError:
        return 1.0


@asynccontextmanager
async def rest(url: str, key: str) -> AsyncIterator[RestTarget]:
    """A client for ``url`` (``http(s)://host:port``, no path) authenticated with ``key``."""
    base = url.rstrip("/")
    try:
        client = httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {key}"})
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise CouldNotRun(f"bad URL {url!r}: {exc}") from exc
    async with client:
        yield RestTarget(client, base)
