"""``SandboxClient``: the blocking client. It only sends: every request is built and parsed in ``calls``.

Its twin ``aio.AsyncSandboxClient`` has the same methods, awaited; both share the request
building, the answer parsing, the error mapping (``errors``), the retry decisions (``retry``) and
the event-stream parsing (``sse``). What stays here is the I/O: sending, sleeping, reading lines.
"""

from __future__ import annotations

import builtins
import ssl
import time
from collections.abc import Iterator, Mapping, Sequence
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


class SandboxClient:
    """A blocking client of the REST API; use it as a context manager (or call ``close``).

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
        self._http = httpx.Client(**self.config.http_options(), verify=verify)
        self.secrets = Secrets(self)

    # ------------------------------------------------------------------ runs
    def run(self, code: str, *, inline: bool = False, **options: Unpack[RunOptions]) -> ExecutionRecord:
        """Run ``code`` once and wait for its record; its ``status`` says how the program ended.

        ``inline=True`` puts small artifacts' bytes in the record (``content_base64``).
        """
        return self._send(calls.run(self.config, calls.execution_request(code, **options), inline=inline))

    def start(self, code: str, **options: Unpack[RunOptions]) -> ExecutionRecord:
        """Start a run and return at once (``state`` is ``running``); ``follow``, ``get`` or ``cancel`` it."""
        return self._send(calls.start(calls.execution_request(code, **options)))

    def stream(self, code: str, **options: Unpack[RunOptions]) -> Iterator[StreamItem]:
        """Run ``code``, yielding ``OutputEvent``s as the program writes, then its ``ExecutionRecord``.

        The request is sent when the iteration starts.
        """
        request = calls.execution_request(code, **options)
        started = self._send(calls.start(request))
        runs = len(request.tests) if request.tests else 1
        yield from self.follow(started.id, read_s=self.config.run_estimate(request.limits, runs))

    def follow(self, execution_id: str, *, read_s: float | None = None) -> Iterator[StreamItem]:
        """The events of an execution (running or done): output from the first, then its record.

        A broken connection is resumed where it broke (``Last-Event-ID``), a few times at most.
        """
        stream = EventStream(execution_id)
        read = read_s if read_s is not None else self.config.run_estimate(None)
        while True:
            call = calls.events(execution_id, read, stream.resume_headers())
            try:
                with self._http.stream(call.method, call.path, **call.request_options(self.config)) as response:
                    ceiling = Ceiling(response, call.what, self.config.max_response_bytes, call.read_s)
                    if not response.is_success:
                        raise calls.answer_error(self._read(response, ceiling), call)
                    lines = Lines(ceiling)
                    for chunk in response.iter_bytes():
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

    def validate(self, code: str, **options: Unpack[RunOptions]) -> ValidationReport:
        """What the validation pipeline says of ``code`` under its policy; nothing runs."""
        return self._send(calls.validate(calls.execution_request(code, **options)))

    def get(self, execution_id: str, *, inline: bool = False) -> ExecutionRecord:
        return self._send(calls.get(execution_id, inline=inline))

    def list(self, *, limit: int = 50, offset: int = 0) -> ExecutionPage:
        """This key's executions, newest first."""
        return self._send(calls.page(limit, offset))

    def cancel(self, execution_id: str) -> ExecutionRecord:
        """Kill a running execution; its record (``killed``)."""
        return self._send(calls.cancel(execution_id))

    def artifact(self, execution_id: str, name: str) -> bytes:
        """An artifact's bytes, by its name in the record (``out/figure-1.png``)."""
        return self._send(calls.artifact(execution_id, name))

    # ------------------------------------------------------------ catalogues
    def languages(self) -> builtins.list[LanguageInfo]:
        return self._send(calls.languages())

    def policies(self) -> builtins.list[PolicyInfo]:
        return self._send(calls.policies())

    # -------------------------------------------------------------- sessions
    def session(self, **options: Unpack[SessionOptions]) -> Session:
        """A stateful interpreter: opened by ``with client.session(...) as s:``, closed when the block ends."""
        return Session(self, SessionState(self.config, calls.session_request(**options)))

    # ----------------------------------------------------------------- plumbing
    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _send(self, call: Call[T]) -> T:
        """Send ``call``, again after a 429 or 503 as the retry policy allows; its parsed answer."""
        attempts = self.config.retry.start()
        while True:
            response = self._exchange(call)
            if call.succeeded(response):
                return call.parse(response)
            time.sleep(attempts.wait_or_raise(calls.answer_error(response, call)))

    def _exchange(self, call: Call[Any]) -> httpx.Response:
        try:
            with self._http.stream(call.method, call.path, **call.request_options(self.config)) as response:
                limit_s = self.config.read_limit(call.read_s)
                return self._read(response, Ceiling(response, call.what, self.config.max_response_bytes, limit_s))
        except (httpx.TransportError, httpx.DecodingError) as exc:
            raise self.config.transport_error(exc, call.what, call.read_s) from exc

    def _read(self, response: httpx.Response, ceiling: Ceiling) -> httpx.Response:
        """``response`` with its body read, within ``ceiling``."""
        body = bytearray()
        for chunk in response.iter_bytes():
            ceiling.add(len(chunk))
            body += chunk
        return complete(response, bytes(body))


class Session:
    """A session of a ``SandboxClient``: cells share the interpreter's state and the workdir."""

    def __init__(self, client: SandboxClient, state: SessionState) -> None:
        self._client = client
        self._state = state

    @property
    def id(self) -> str:
        return self._state.id

    @property
    def info(self) -> SessionInfo | None:
        """The session as it was opened (``None`` before); ``describe()`` asks the server again."""
        return self._state.info

    def open(self) -> Self:
        call = self._state.open_call()
        if call is not None:
            self._state.info = self._client._send(call)
        return self

    def run(
        self, code: str, *, limits: LimitsArg | None = None, outputs: Sequence[str] | None = None
    ) -> ExecutionRecord:
        """Run a cell; ``record.session_open`` is false when this cell ended the session."""
        return self._client._send(self._state.run_call(code, limits, outputs))

    def write_file(self, path: str, data: bytes | str) -> None:
        """Write ``data`` (text as UTF-8) to ``path`` in the workdir, creating its directories."""
        self._client._send(calls.session_write(self.id, path, data))

    def read_file(self, path: str) -> bytes:
        return self._client._send(calls.session_read(self.id, path))

    def files(self) -> SessionFiles:
        """The workdir, listed (links are listed, never followed)."""
        return self._client._send(calls.session_files(self.id))

    def describe(self) -> SessionInfo:
        return self._client._send(calls.session_info(self.id))

    def close(self) -> None:
        """Close it and remove its container; closing one the server already ended is fine."""
        call = self._state.close_call()
        if call is not None:
            self._client._send(call.allowing(404))

    def __enter__(self) -> Self:
        return self.open()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:
            self.close()
            return
        try:
            self.close()
        except SandboxClientError as close_error:
            note_close_failure(exc, close_error, self._state.info.id if self._state.info else "?")


class Secrets:
    """This key's secrets: set, list and delete. No call returns a value."""

    def __init__(self, client: SandboxClient) -> None:
        self._client = client

    def set(self, name: str, value: str) -> SecretInfo:
        """Create or replace ``name`` (a new version); programs get it with ``secrets=[name]``."""
        return self._client._send(calls.secret_set(name, value))

    def list(self) -> builtins.list[SecretInfo]:
        """Names, versions and times, never values."""
        return self._client._send(calls.secret_list())

    def delete(self, name: str) -> None:
        self._client._send(calls.secret_delete(name))
