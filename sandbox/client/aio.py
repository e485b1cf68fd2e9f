"""``AsyncSandboxClient``: the asyncio twin of ``sync.SandboxClient``, method for method, awaited.

Only the I/O differs (``httpx.AsyncClient``, ``asyncio.sleep``, ``async for`` over lines): the
requests, the parsing, the error mapping, the retry decisions and the event-stream parsing are
the ones ``calls``, ``errors``, ``retry`` and ``sse`` give both clients.
"""

from __future__ import annotations

import asyncio
import builtins
import ssl
from collections.abc import AsyncIterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar, Unpack

import httpx

from sandbox.client import calls
from sandbox.client.bounded import MAX_RESPONSE_BYTES, Ceiling, Lines, complete
from sandbox.client.calls import Call, LimitsArg, RunOptions, SessionOptions
from sandbox.client.config import ClientConfig
from sandbox.client.errors import SandboxClientError
from sandbox.client.retry import RetryPolicy
from sandbox.client.session_state import SessionState, note_close_failure
from sandbox.client.sse import EventStream, StreamItem
from sandbox.models import ExecutionRecord, SessionFiles, SessionInfo
from sandbox.responses import ExecutionPage, LanguageInfo, PolicyInfo, SecretInfo, ValidationReport

T = TypeVar("T")


class AsyncSandboxClient:
    """An asyncio client of the REST API; use it as ``async with`` (or await ``close``).

    ``url`` and ``api_key`` default to ``SANDBOX_URL`` and ``SANDBOX_API_KEY``. Timeouts are in
    seconds; ``read_timeout=None`` (the default) waits as long as each request's limits allow plus
    ``timeout_margin_s``. Refusals with 429 or 503 are sent again after the server's Retry-After,
    at most ``max_attempts`` sends and ``max_retry_wait_s`` of waiting in all.
    One answer (or one event of a stream) past ``max_response_bytes`` raises ``UnexpectedResponse``.
    """

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        connect_timeout: float = 10.0,
        read_timeout: float | None = None,
        write_timeout: float = 60.0,
        timeout_margin_s: float = 60.0,
        max_attempts: int = 3,
        max_retry_wait_s: float = 30.0,
        headers: Mapping[str, str] | None = None,
        verify: bool | ssl.SSLContext = True,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self.config = ClientConfig.resolve(
            url,
            api_key,
            connect_timeout_s=connect_timeout,
            read_timeout_s=read_timeout,
            write_timeout_s=write_timeout,
            margin_s=timeout_margin_s,
            retry=RetryPolicy(max_attempts, max_retry_wait_s),
            headers=dict(headers or {}),
            max_response_bytes=max_response_bytes,
        )
        self._http = httpx.AsyncClient(**self.config.http_options(), verify=verify)
        self.secrets = AsyncSecrets(self)

    # ------------------------------------------------------------------ runs
    async def run(self, code: str, *, inline: bool = False, **options: Unpack[RunOptions]) -> ExecutionRecord:
        """Run ``code`` once and wait for its record; its ``status`` says how the program ended.

        ``inline=True`` puts small artifacts' bytes in the record (``content_base64``).
        """
        return await self._send(calls.run(self.config, calls.execution_request(code, **options), inline=inline))

    async def start(self, code: str, **options: Unpack[RunOptions]) -> ExecutionRecord:
        """Start a run and return at once (``state`` is ``running``); ``follow``, ``get`` or ``cancel`` it."""
        return await self._send(calls.start(calls.execution_request(code, **options)))

    async def stream(self, code: str, **options: Unpack[RunOptions]) -> AsyncIterator[StreamItem]:
        """Run ``code``, yielding ``OutputEvent``s as the program writes, then its ``ExecutionRecord``.

        The request is sent when the iteration starts. Leaving the loop early leaves the event
        stream's connection to the garbage collector: ``async with contextlib.aclosing(...)`` closes it
        at once.
        """
        request = calls.execution_request(code, **options)
        started = await self._send(calls.start(request))
        runs = len(request.tests) if request.tests else 1
        async for item in self.follow(started.id, read_s=self.config.run_estimate(request.limits, runs)):
            yield item

    async def follow(self, execution_id: str, *, read_s: float | None = None) -> AsyncIterator[StreamItem]:
        """The events of an execution (running or done): output from the first, then its record.

        A broken connection is resumed where it broke (``Last-Event-ID``), a few times at most.
        """
        stream = EventStream(execution_id)
        read = read_s if read_s is not None else self.config.run_estimate(None)
        while True:
            call = calls.events(execution_id, read, stream.resume_headers())
            try:
                async with self._http.stream(call.method, call.path, **call.request_options(self.config)) as response:
                    ceiling = Ceiling(response, call.what, self.config.max_response_bytes, call.read_s)
                    if not response.is_success:
                        raise calls.answer_error(await self._read(response, ceiling), call)
                    lines = Lines(ceiling)
                    async for chunk in response.aiter_bytes():
                        for line in lines.feed(chunk):
                            seen = stream.last_id
                            item = stream.feed(line)
                            if stream.last_id != seen:
                                ceiling.restart()
                            if item is not None:
                                yield item
                            if stream.finished:
                                return
            except (httpx.TransportError, httpx.DecodingError) as exc:
                stream.broken(self.config.transport_error(exc, call.what, call.read_s), exc)
            else:
                stream.broken(stream.ended_early(call.what), None)

    async def validate(self, code: str, **options: Unpack[RunOptions]) -> ValidationReport:
        """What the validation pipeline says of ``code`` under its policy; nothing runs."""
        return await self._send(calls.validate(calls.execution_request(code, **options)))

    async def get(self, execution_id: str, *, inline: bool = False) -> ExecutionRecord:
        return await self._send(calls.get(execution_id, inline=inline))

    async def list(self, *, limit: int = 50, offset: int = 0) -> ExecutionPage:
        """This key's executions, newest first."""
        return await self._send(calls.page(limit, offset))

    async def cancel(self, execution_id: str) -> ExecutionRecord:
        """Kill a running execution; its record (``killed``)."""
        return await self._send(calls.cancel(execution_id))

    async def artifact(self, execution_id: str, name: str) -> bytes:
        """An artifact's bytes, by its name in the record (``out/figure-1.png``)."""
        return await self._send(calls.artifact(execution_id, name))

    # ------------------------------------------------------------ catalogues
    async def languages(self) -> builtins.list[LanguageInfo]:
        return await self._send(calls.languages())

    async def policies(self) -> builtins.list[PolicyInfo]:
        return await self._send(calls.policies())

    # -------------------------------------------------------------- sessions
    def session(self, **options: Unpack[SessionOptions]) -> AsyncSession:
        """A stateful interpreter: opened by ``async with client.session(...) as s:``, closed when the block ends."""
        return AsyncSession(self, SessionState(self.config, calls.session_request(**options)))

    # ----------------------------------------------------------------- plumbing
    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _send(self, call: Call[T]) -> T:
        """Send ``call``, again after a 429 or 503 as the retry policy allows; its parsed answer."""
        attempts = self.config.retry.start()
        while True:
            response = await self._exchange(call)
            if call.succeeded(response):
                return call.parse(response)
            await asyncio.sleep(attempts.wait_or_raise(calls.answer_error(response, call)))

    async def _exchange(self, call: Call[Any]) -> httpx.Response:
        try:
            async with self._http.stream(call.method, call.path, **call.request_options(self.config)) as response:
                limit_s = self.config.read_limit(call.read_s)
                return await self._read(response, Ceiling(response, call.what, self.config.max_response_bytes, limit_s))
        except (httpx.TransportError, httpx.DecodingError) as exc:
            raise self.config.transport_error(exc, call.what, call.read_s) from exc

    async def _read(self, response: httpx.Response, ceiling: Ceiling) -> httpx.Response:
        """``response`` with its body read, within ``ceiling``."""
        body = bytearray()
        async for chunk in response.aiter_bytes():
            ceiling.add(len(chunk))
            body += chunk
        return complete(response, bytes(body))


class AsyncSession:
    """A session of an ``AsyncSandboxClient``: cells share the interpreter's state and the workdir."""

    def __init__(self, client: AsyncSandboxClient, state: SessionState) -> None:
        self._client = client
        self._state = state

    @property
    def id(self) -> str:
        return self._state.id

    @property
    def info(self) -> SessionInfo | None:
        """The session as it was opened (``None`` before); ``describe()`` asks the server again."""
        return self._state.info

    async def open(self) -> Self:
        call = self._state.open_call()
        if call is not None:
            self._state.info = await self._client._send(call)
        return self

    async def run(
        self, code: str, *, limits: LimitsArg | None = None, outputs: Sequence[str] | None = None
    ) -> ExecutionRecord:
        """Run a cell; ``record.session_open`` is false when this cell ended the session."""
        return await self._client._send(self._state.run_call(code, limits, outputs))

    async def write_file(self, path: str, data: bytes | str) -> None:
        """Write ``data`` (text as UTF-8) to ``path`` in the workdir, creating its directories."""
        await self._client._send(calls.session_write(self.id, path, data))

    async def read_file(self, path: str) -> bytes:
        return await self._client._send(calls.session_read(self.id, path))

    async def files(self) -> SessionFiles:
        """The workdir, listed (links are listed, never followed)."""
        return await self._client._send(calls.session_files(self.id))

    async def describe(self) -> SessionInfo:
        return await self._client._send(calls.session_info(self.id))

    async def close(self) -> None:
        """Close it and remove its container; closing one the server already ended is fine."""
        call = self._state.close_call()
        if call is not None:
            await self._client._send(call.allowing(404))

    async def __aenter__(self) -> Self:
        return await self.open()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:
            await self.close()
            return
        try:
            await self.close()
        except SandboxClientError as close_error:
            note_close_failure(exc, close_error, self._state.info.id if self._state.info else "?")


class AsyncSecrets:
    """This key's secrets: set, list and delete. No call returns a value."""

    def __init__(self, client: AsyncSandboxClient) -> None:
        self._client = client

    async def set(self, name: str, value: str) -> SecretInfo:
        """Create or replace ``name`` (a new version); programs get it with ``secrets=[name]``."""
        return await self._client._send(calls.secret_set(name, value))

    async def list(self) -> builtins.list[SecretInfo]:
        """Names, versions and times, never values."""
        return await self._client._send(calls.secret_list())

    async def delete(self, name: str) -> None:
        await self._client._send(calls.secret_delete(name))
