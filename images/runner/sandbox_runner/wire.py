"""The runner's two channels: frames to the host, and messages inside a session.

The host channel is the container's stdin (the request) and stdout (the frames);
only the runner holds them, and the program never sees either. A session's
interpreter and the runner talk over two private pipes instead, with
length-prefixed JSON messages, so nothing the interpreter writes there can pass
for a frame. Both formats are documented in the package docstring.

The interpreter runs the program's code, so its result pipe is the program's
too: a cell can write anything there (CPython keeps nothing from the code it
runs). The runner therefore reads that pipe without blocking, in bounded
messages (``ReplyReader``), and takes only a well-formed reply for the cell it
sent (``check_reply``); anything else breaks the session, which then ends. A
cell can thus say what its own outcome was, as it could with ``SystemExit``,
and nothing more: never stall the runner, never answer for another cell.

JSON is encoded and decoded with CPython's C accelerator (``_json``) directly
(``dumps``, ``loads``): the ``json`` package imports ``re`` and ``enum`` and
compiles regular expressions, milliseconds of CPU in every container, for
nothing the runner needs. The output is ``json.dumps``'s; input the
accelerator refuses is handed to ``json.loads`` for its precise error.
"""

from __future__ import annotations

import _json
import os
import struct

from .boot import PROTOCOL_VERSION

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

MAGIC = b"SBX1"
MAX_REQUEST_BYTES = 96 << 20
FRAME_HEADER = struct.Struct(">cI")
MESSAGE_HEADER = struct.Struct(">I")
#: What JSON allows around a value.
JSON_WHITESPACE = " \t\n\r"


class _DecodeOptions:
    """``json.loads``'s defaults, as the attributes ``_json.make_scanner`` reads."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = float  # NaN, Infinity, -Infinity


def _not_serializable(value: object) -> object:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# typeshed wants a JSONDecoder: any object with its attributes will do.
_scan = _json.make_scanner(_DecodeOptions())  # type: ignore[arg-type]
# json.dumps's defaults: ASCII only, ", " and ": ", no sorting, NaN allowed.
_encode = _json.make_encoder(
    None, _not_serializable, _json.encode_basestring_ascii, None, ": ", ", ", False, False, True
)


def dumps(value: object) -> str:
    """``json.dumps(value)``."""
    return "".join(_encode(value, 0))


def loads(data: bytes | str) -> Any:
    """``json.loads(data)`` (UTF-8 bytes or text); ValueError (or RecursionError) if it is not JSON."""
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    start = len(text) - len(text.lstrip(JSON_WHITESPACE))
    try:
        value, end = _scan(text, start)
        if not text[end:].strip(JSON_WHITESPACE):
            return value
    except Exception:  # StopIteration, or (json not loaded) SystemError: json.loads says what is wrong
        pass
    import json

    return json.loads(text)


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
    write_frame(kind, dumps(body).encode())


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
    request: Request = loads(read_exact(0, length))
    if request.get("v") != PROTOCOL_VERSION:
        raise ValueError(f"unsupported protocol version {request.get('v')!r}")
    return request


def encode_message(body: Mapping[str, object]) -> bytes:
    """A message of a session's private pipes: u32 big-endian length, then JSON."""
    data = dumps(body).encode()
    return MESSAGE_HEADER.pack(len(data)) + data


def write_message(fd: int, body: Mapping[str, object]) -> None:
    """One message on a session's private pipe, written in full (blocking)."""
    data = encode_message(body)
    while data:
        data = data[os.write(fd, data) :]


def read_message(fd: int) -> JSONObject | None:
    """The next message on a session's private pipe; None once the other end is closed."""
    try:
        (length,) = MESSAGE_HEADER.unpack(read_exact(fd, MESSAGE_HEADER.size))
        message: JSONObject = loads(read_exact(fd, length))
        return message
    except EOFError:
        return None


#: The longest reply an interpreter sends ({"cell": n, "exit_code": n}); anything longer is forged.
MAX_REPLY_BYTES = 256


class ReplyReader:
    """A session interpreter's result pipe, read without ever blocking the runner."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._buffer = b""
        os.set_blocking(fd, False)

    def read(self) -> list[JSONObject] | None:
        """The complete messages now readable; None once the pipe is closed.

        ValueError for anything that is not a small JSON object behind its length.
        """
        try:
            data = os.read(self.fd, 4 * MAX_REPLY_BYTES)
        except BlockingIOError:
            return []
        if not data:
            return None
        self._buffer += data
        messages = []
        while len(self._buffer) >= MESSAGE_HEADER.size:
            (length,) = MESSAGE_HEADER.unpack_from(self._buffer)
            if length > MAX_REPLY_BYTES:
                raise ValueError("an oversized message on the result pipe")
            if len(self._buffer) < MESSAGE_HEADER.size + length:
                break
            body = self._buffer[MESSAGE_HEADER.size : MESSAGE_HEADER.size + length]
            self._buffer = self._buffer[MESSAGE_HEADER.size + length :]
            try:
                message = loads(body)
            except (ValueError, RecursionError):
                raise ValueError("a message on the result pipe that is not JSON") from None
            if not isinstance(message, dict):
                raise ValueError("a message on the result pipe that is not an object")
            messages.append(message)
        if len(self._buffer) > MESSAGE_HEADER.size + MAX_REPLY_BYTES:
            raise ValueError("an oversized message on the result pipe")
        return messages


def check_reply(message: JSONObject, cell: int) -> bool:
    """True for the reply to ``cell``, False for a late one of an earlier cell; ValueError otherwise."""
    number, status = message.get("cell"), message.get("exit_code")
    if set(message) != {"cell", "exit_code"} or type(number) is not int or type(status) is not int:
        raise ValueError("a malformed reply on the result pipe")
    if not 0 <= status <= 255:
        raise ValueError("a malformed reply on the result pipe")
    if number > cell:
        raise ValueError("a reply for a cell not yet sent")
    return number == cell
