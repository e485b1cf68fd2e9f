"""Reading an answer with a ceiling on its size and its duration (both clients).

A broken or hostile server (or a proxy between) can send a body that never ends, a line of an
event stream with no line end, or data lines with no blank line closing the event. httpx keeps
all of it (``Response.read``, ``iter_lines``), so a client would grow until the process runs
out of memory; and bytes that keep trickling in never trip the read timeout, which is per read.
Everything the clients read goes through here instead: a body is read to ``max_bytes`` at most
(one answer of the API is far smaller: artifacts are capped at 32 MiB by the server), an event
stream's lines are split here with the same cap on one line and on one event, and reading has a
deadline (the request's read limit, counted from the answer's head, or on a stream from the last
whole event), after which the client raises ``ClientTimeout`` rather than waiting on.
"""

from __future__ import annotations

import codecs
import re
import time
from collections.abc import Iterator

import httpx

from sandbox.client.errors import ClientTimeout, UnexpectedResponse

#: The default ceiling of one answer's body, and of one event of an event stream (bytes).
MAX_RESPONSE_BYTES = 64 << 20


def too_large(what: str, response: httpx.Response, max_bytes: int) -> UnexpectedResponse:
    return UnexpectedResponse(
        f"{what}: HTTP {response.status_code} with an answer (or one event of its stream) past "
        f"max_response_bytes={max_bytes} bytes; not read further "
        "(no answer of the API is that large: a broken server or a proxy?)",
        status_code=response.status_code,
        request_id=response.headers.get("x-request-id"),
    )


def too_slow(what: str, limit_s: float) -> ClientTimeout:
    return ClientTimeout(
        f"{what}: bytes kept trickling in for more than {limit_s:g} s without completing the answer (or, "
        "on an event stream, an event); not read further",
        phase="read",
        limit_s=limit_s,
    )


class Ceiling:
    """The size and time bounds of one answer: ``add(n)`` for each chunk read, raising past either."""

    def __init__(self, response: httpx.Response, what: str, max_bytes: int, limit_s: float) -> None:
        self.response = response
        self.what = what
        self.max_bytes = max_bytes
        self.limit_s = limit_s
        self.deadline = time.monotonic() + limit_s
        self.size = 0
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise too_large(what, response, max_bytes)

    def add(self, size: int) -> None:
        self.size += size
        if self.size > self.max_bytes:
            raise too_large(self.what, self.response, self.max_bytes)
        self.tick()

    def restart(self) -> None:
        """Progress was made (an event of a stream came whole): the time limit counts from now."""
        self.deadline = time.monotonic() + self.limit_s

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise too_slow(self.what, self.limit_s)


def complete(response: httpx.Response, body: bytes) -> httpx.Response:
    """``response`` with ``body`` (already decoded) as its content, as ``Response.read`` would leave it."""
    headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in ("content-encoding",)]
    return httpx.Response(
        response.status_code, headers=headers, content=body, request=response.request, extensions=response.extensions
    )


class Lines:
    """Lines of an event stream (``\\n``, ``\\r\\n`` or ``\\r`` ends them) from chunks of bytes; one line
    and one event (its lines up to the blank line) are at most ``ceiling.max_bytes`` characters."""

    def __init__(self, ceiling: Ceiling) -> None:
        self.ceiling = ceiling
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._partial: list[str] = []  # the pieces of a line not ended yet
        self._partial_size = 0
        self._event = 0  # characters of the event being received
        self._after_cr = False  # the last chunk ended with "\r": a "\n" first in the next is its end

    def feed(self, chunk: bytes) -> Iterator[str]:
        self.ceiling.tick()
        text = self._decoder.decode(chunk)
        if self._after_cr and text:
            text = text.removeprefix("\n")
            self._after_cr = False
        if text:
            self._after_cr = text.endswith("\r")
        *ended, rest = _LINE_END.split(text)
        for piece in ended:
            line = "".join([*self._partial, piece])
            self._partial, self._partial_size = [], 0
            self._event = 0 if not line else self._event + len(line)
            self._check(self._event)
            yield line
        if rest:
            self._partial.append(rest)
            self._partial_size += len(rest)
        self._check(self._event + self._partial_size)

    def _check(self, size: int) -> None:
        if size > self.ceiling.max_bytes:
            raise too_large(self.ceiling.what, self.ceiling.response, self.ceiling.max_bytes)


_LINE_END = re.compile("\r\n|\r|\n")
