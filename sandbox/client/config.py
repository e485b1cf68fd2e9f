"""What a client is configured with: the server, the key, timeouts and retry bounds (both clients).

The URL and key come from the arguments, else from ``SANDBOX_URL`` and ``SANDBOX_API_KEY``. The
read timeout follows the request: a run may take its compile, its wall time for each run (one,
or one per test case) and the server's queueing and start-up, so by default the client waits that
long plus a margin, and a long program does not time out on the client's side. A fixed
``read_timeout`` replaces the estimate for every call.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from sandbox import __version__
from sandbox.client.bounded import MAX_RESPONSE_BYTES
from sandbox.client.errors import ClientTimeout, ConfigurationError, TransportError
from sandbox.client.retry import RetryPolicy
from sandbox.models import Limits

URL_VARIABLE = "SANDBOX_URL"
KEY_VARIABLE = "SANDBOX_API_KEY"
#: A request without a wall limit may run the server's default maximum (SANDBOX_MAX_WALL_TIME_S).
ASSUMED_WALL_S = 60.0
#: A request without a compile limit gets the server's default compile limit (SANDBOX_COMPILE_WALL_TIME_S).
ASSUMED_COMPILE_S = 30.0
#: Queueing for a slot (SANDBOX_QUEUE_TIMEOUT_S, 30 s), a container's start, validation, the answer.
DEFAULT_MARGIN_S = 60.0
#: Calls that run nothing (listings, files, secrets) answer within this.
DEFAULT_READ_S = 60.0

_PHASES = {
    httpx.ConnectTimeout: "connect",
    httpx.WriteTimeout: "write",
    httpx.ReadTimeout: "read",
    httpx.PoolTimeout: "pool",
}


@dataclass(frozen=True)
class ClientConfig:
    """Everything both clients need besides their httpx client; built once by ``resolve``."""

    base_url: str
    api_key: str | None
    connect_timeout_s: float = 10.0
    write_timeout_s: float = 60.0
    read_timeout_s: float | None = None  # None: follow each request's limits (``read_timeout``)
    margin_s: float = DEFAULT_MARGIN_S
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    headers: Mapping[str, str] = field(default_factory=dict)
    max_response_bytes: int = MAX_RESPONSE_BYTES  # one answer's body, or one event of a stream

    @classmethod
    def resolve(cls, url: str | None, api_key: str | None, **options: Any) -> ClientConfig:
        """The arguments, with ``SANDBOX_URL`` / ``SANDBOX_API_KEY`` filling what they leave out."""
        base = url or os.environ.get(URL_VARIABLE, "")
        if not base.strip():
            raise ConfigurationError(
                f"no server URL: pass url=... (e.g. 'http://127.0.0.1:8080') or set {URL_VARIABLE}"
            )
        base = base.strip().rstrip("/")
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigurationError(f"the server URL must be http:// or https:// with a host; got {base!r}")
        key = api_key if api_key is not None else os.environ.get(KEY_VARIABLE) or None
        for name in ("connect_timeout_s", "write_timeout_s", "read_timeout_s", "margin_s"):
            value = options.get(name)
            if value is not None and not value > 0:
                raise ConfigurationError(f"{name.removesuffix('_s')} must be a positive number of seconds; got {value}")
        size = options.get("max_response_bytes", MAX_RESPONSE_BYTES)
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ConfigurationError(f"max_response_bytes must be a positive number of bytes; got {size!r}")
        return cls(base, key, **options)

    def http_options(self) -> dict[str, Any]:
        """Keyword arguments of ``httpx.Client`` / ``httpx.AsyncClient``."""
        headers = {"User-Agent": f"sandbox-client/{__version__}", **self.headers}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return {"base_url": self.base_url, "headers": headers, "timeout": self.timeout(DEFAULT_READ_S)}

    def read_limit(self, estimate_s: float) -> float:
        """The read timeout of a call whose answer may take ``estimate_s`` (the fixed one if set)."""
        return self.read_timeout_s if self.read_timeout_s is not None else estimate_s

    def timeout(self, read_s: float) -> httpx.Timeout:
        return httpx.Timeout(
            connect=self.connect_timeout_s, read=self.read_limit(read_s), write=self.write_timeout_s, pool=10.0
        )

    def run_estimate(self, limits: Limits | None, runs: int = 1, compiles: bool = True) -> float:
        """How long a run's answer may take: its compile, its wall time per run, plus the margin."""
        wall = limits.wall_time_s if limits and limits.wall_time_s else ASSUMED_WALL_S
        compile_s = (
            limits.compile_wall_time_s if limits and limits.compile_wall_time_s else ASSUMED_COMPILE_S
        ) * compiles
        return compile_s + wall * max(runs, 1) + self.margin_s

    def transport_error(
        self, exc: httpx.TransportError | httpx.DecodingError, what: str, read_s: float
    ) -> TransportError:
        """An httpx failure as the client's exception, saying what failed and what it means.

        A body that cannot be undone from its ``Content-Encoding`` (``DecodingError``, which is no
        ``httpx.TransportError``) is one too: it escaped the client's error tree before.
        """
        if isinstance(exc, httpx.DecodingError):
            return TransportError(
                f"{what}: the answer from {self.base_url} could not be decoded as its Content-Encoding "
                f"says (a broken server or proxy): {exc}"
            )
        for kind, phase in _PHASES.items():
            if isinstance(exc, kind):
                return timeout_error(phase, self._limit(phase, read_s), what)
        return TransportError(f"{what}: no answer from {self.base_url}: {type(exc).__name__}: {exc or 'no detail'}")

    def _limit(self, phase: str, read_s: float) -> float:
        return {"connect": self.connect_timeout_s, "write": self.write_timeout_s, "pool": 10.0}.get(
            phase, self.read_limit(read_s)
        )


def timeout_error(phase: str, limit_s: float, what: str) -> ClientTimeout:
    """The message says which phase, which limit, and whether the server may still be at work."""
    if phase == "connect":
        consequence = "the server did not get the request (is it running, and is the URL right?)"
    elif phase == "pool":
        consequence = "every connection of this client was busy; the request was not sent"
    else:
        consequence = (
            "the server may have the request and still be working on it: an execution may still be "
            "running server-side (list it with client.list(), follow it with client.get(id), or cancel it); "
            "raise read_timeout (or timeout_margin_s) to wait longer"
        )
    verb = {"connect": "connecting", "write": "sending the request", "read": "waiting for the answer"}.get(
        phase, "waiting for a free connection"
    )
    return ClientTimeout(
        f"{what}: timed out {verb} (the {phase} timeout is {limit_s:g} s); {consequence}", phase=phase, limit_s=limit_s
    )
