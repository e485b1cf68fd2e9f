"""Log lines: one JSON object per event (or ``k=v`` text on a terminal), with the bound fields.

``configure_logging(settings)`` is called once at each entry point (``sandbox
serve`` and each of its workers, ``sandbox mcp``, every CLI command). It puts one
handler on the root logger, so the service's loggers, uvicorn's (``uvicorn.error``,
``uvicorn.access``) and the MCP SDK's all write the same format to stderr.

A line carries what was bound where it was logged (``observability.bind``:
``execution_id``, ``session_id``, ``key`` (the key's *name*), ``request_id``,
``stage``), whatever the call passed as ``extra`` (``duration_s``), the current
span's ``trace_id``/``span_id`` when tracing is on, and the exception's text.
``log_format``: ``json``, ``text`` (the message, then the fields as ``k=v``), or
``auto`` (text when stderr is a terminal, JSON otherwise).

A client that goes away is an event, not a failure: the MCP SDK logs a closed or
broken stream as an error with a traceback; ``QuietDisconnects`` turns such a
record (and only such a record: every exception in it is a disconnect) into one
info line.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

import anyio

from sandbox.config import Settings
from sandbox.observability import tracing
from sandbox.observability.context import fields

#: Attributes every LogRecord has: anything else on a record came from ``extra``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's coloured copy of the message
}
#: Loggers whose disconnect tracebacks become one line: the MCP SDK and its SSE responses.
_QUIETED = ("mcp.", "sse_starlette.")
_DISCONNECTS: tuple[type[BaseException], ...] = (
    anyio.ClosedResourceError,
    anyio.BrokenResourceError,
    BrokenPipeError,
    ConnectionResetError,
    ConnectionAbortedError,
)


def is_disconnect(exc: BaseException) -> bool:
    """True when ``exc`` says only that the peer went away (a group: every exception in it does)."""
    if isinstance(exc, BaseExceptionGroup):
        return all(is_disconnect(inner) for inner in exc.exceptions)
    return isinstance(exc, _DISCONNECTS)


def _leaf(exc: BaseException) -> type[BaseException]:
    """The type of the first exception that is not a group (what a reader wants named)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return type(exc)


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields of one line: bound ones, then the record's own extras, then the trace ids."""
    found = fields()
    for name, value in vars(record).items():
        if name not in _STANDARD and not name.startswith("_"):
            found[name] = value
    if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
        client, method, path, _, status = record.args  # uvicorn's access-log arguments
        found.update(method=method, path=path, status_code=status, client=client)
    if "trace_id" not in found:
        ids = tracing.current_ids()
        if ids is not None:
            found["trace_id"], found["span_id"] = ids
    return found


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``timestamp``, ``level``, ``logger``, ``message``, fields, ``exception``."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in record_fields(record).items():
            line.setdefault(name, value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    """For a person at a terminal: ``time LEVEL logger: message k=v ...``, then the traceback."""

    def format(self, record: logging.LogRecord) -> str:
        pairs = " ".join(f"{name}={_text(value)}" for name, value in record_fields(record).items())
        line = f"{_timestamp(record)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if pairs:
            line += "  " + pairs
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


def _text(value: Any) -> str:
    text = f"{value:.6f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)
    if not text or any(c.isspace() or c in '"=' for c in text):
        return json.dumps(text, ensure_ascii=False)
    return text


class QuietDisconnects(logging.Filter):
    """An MCP SDK error whose exception is only a client going away becomes one info line.

    The SDK logs, e.g., ``Error in standalone SSE writer`` with an
    ``anyio.ClosedResourceError`` traceback when a client ends its session while
    its event stream is open. Any other exception, or one mixed with a real error
    in a group, is left alone.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if error is None or not record.name.startswith(_QUIETED) or not is_disconnect(error):
            return True
        record.msg, record.args = "MCP client went away (%s): %s", (_leaf(error).__name__, record.getMessage())
        record.exc_info, record.exc_text = None, None
        record.levelno, record.levelname = logging.INFO, "INFO"
        return logging.getLogger().isEnabledFor(logging.INFO)


class _Handler(logging.Handler):
    """Writes to ``stream``, or to whatever ``sys.stderr`` is at the time (test runners swap it)."""

    def __init__(self, stream: TextIO | None) -> None:
        super().__init__()
        self.stream = stream

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = self.stream or sys.stderr
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:
            self.handleError(record)


def configure_logging(settings: Settings, *, quiet: bool = False, stream: TextIO | None = None) -> logging.Handler:
    """Route every logger through one handler in the format and at the level the settings ask.

    Idempotent: a second call replaces the first one's handler (and drops console
    handlers that ``basicConfig`` left on the root logger, which would double each
    line). ``quiet``: a CLI command whose output is the point logs warnings and up
    unless ``SANDBOX_LOG_LEVEL`` says otherwise. ``stream``: stderr by default.
    Returns the handler.
    """
    use_json = settings.log_format == "json"
    if settings.log_format == "auto":
        target = stream or sys.stderr
        use_json = not (hasattr(target, "isatty") and target.isatty())
    handler = _Handler(stream)
    handler.setFormatter(JsonFormatter() if use_json else TextFormatter())
    handler.addFilter(QuietDisconnects())
    root = logging.getLogger()
    for old in list(root.handlers):
        if isinstance(old, _Handler) or _is_console(old):
            root.removeHandler(old)
    root.addHandler(handler)
    level = settings.log_level if not quiet or "log_level" in settings.model_fields_set else "warning"
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        # uvicorn's own dictConfig (when it ran one) gives these their own handlers: one format for all.
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
        uvicorn_logger.setLevel(logging.NOTSET)  # one level for all: the root's (SANDBOX_LOG_LEVEL)
    # The MCP SDK notes every request it processes at info; our own lines already say what ran.
    logging.getLogger("mcp.server.lowlevel.server").setLevel("DEBUG" if level == "debug" else "WARNING")
    return handler


def _is_console(handler: logging.Handler) -> bool:
    stream = getattr(handler, "stream", None)
    return type(handler).__name__ == "RichHandler" or stream in (sys.stderr, sys.stdout, sys.__stderr__)
