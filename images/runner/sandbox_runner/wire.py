"""The runner's two channels: frames to the host, and messages inside a session.

The host channel is the container's stdin (the request) and stdout (the frames);
only the runner holds them, and the program never sees either. A session's
interpreter and the runner talk over two private pipes instead, with
length-prefixed JSON messages, so nothing the interpreter writes there can pass
for a frame. Both formats are documented in the package docstring.
"""

from __future__ import annotations

import json
import os
import struct

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at start-up
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, TypeAlias

    #: A JSON object decoded from outside the runner's own code: a request's parts (its
    #: ``limits``, a file spec) or a message on a session's private pipe. Untrusted: each
    #: field is checked or converted where it is used, hence ``Any``.
    JSONObject: TypeAlias = dict[str, Any]
    #: The host's request, or a later message in a session (``read_request``).
    Request: TypeAlias = JSONObject

PROTOCOL_VERSION = 1
MAGIC = b"SBX1"
MAX_REQUEST_BYTES = 96 << 20
FRAME_HEADER = struct.Struct(">cI")
MESSAGE_HEADER = struct.Struct(">I")


def write_frame(kind: bytes, payload: bytes) -> None:
    """One frame to the host, written in full."""
    data = FRAME_HEADER.pack(kind, len(payload)) + payload
    view = memoryview(data)
    while view:
        try:
            n = os.write(1, view)
        except InterruptedError:
            continue
        view = view[n:]


def write_json(kind: bytes, body: Mapping[str, object]) -> None:
    """A frame whose payload is ``body`` as JSON (results, errors, the hello)."""
    write_frame(kind, json.dumps(body).encode())


def write_error(message: str) -> None:
    """The ``X`` frame: the runner could not do what it was asked."""
    write_json(b"X", {"error": message})


def read_exact(fd: int, n: int) -> bytes:
    """Exactly ``n`` bytes from ``fd``; EOFError if it closes first."""
    parts = []
    while n:
        try:
            chunk = os.read(fd, min(n, 1 << 20))
        except InterruptedError:
            continue
        if not chunk:
            raise EOFError("stdin closed before the request was complete")
        parts.append(chunk)
        n -= len(chunk)
    return b"".join(parts)


def read_request() -> Request:
    """The next message from the host on stdin, checked for magic, size and version."""
    header = read_exact(0, 8)
    if header[:4] != MAGIC:
        raise ValueError("bad magic: not a sandbox protocol v1 request")
    (length,) = struct.unpack(">I", header[4:])
    if length > MAX_REQUEST_BYTES:
        raise ValueError(f"request of {length} bytes exceeds {MAX_REQUEST_BYTES}")
    request: Request = json.loads(read_exact(0, length))
    if request.get("v") != PROTOCOL_VERSION:
        raise ValueError(f"unsupported protocol version {request.get('v')!r}")
    return request


def write_message(fd: int, body: Mapping[str, object]) -> None:
    """One message on a session's private pipe."""
    data = json.dumps(body).encode()
    data = MESSAGE_HEADER.pack(len(data)) + data
    while data:
        data = data[os.write(fd, data) :]


def read_message(fd: int) -> JSONObject | None:
    """The next message on a session's private pipe; None once the other end is closed."""
    try:
        (length,) = MESSAGE_HEADER.unpack(read_exact(fd, MESSAGE_HEADER.size))
        message: JSONObject = json.loads(read_exact(fd, length))
        return message
    except EOFError:
        return None
