"""What a tool call answers, as MCP content: the one place results and errors become blocks.

Every tool of the door ends here, so an agent reads the same shapes whatever it
called: an execution (``execute`` and ``session_execute`` alike) is readable text
plus the record as ``structuredContent``; a refusal or failure is the error object
``{status, message, findings}`` alone, as text and as ``structuredContent``, with
``isError``; a session file is text when it is UTF-8 and an embedded binary
resource otherwise. New kinds of output (artifacts as images, say) are added in
``execution_result``, the one function that turns a record into content.
"""

import base64
import json
import logging
import mimetypes
from typing import Any

from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import BlobResourceContents, CallToolResult, ContentBlock, EmbeddedResource, TextContent
from pydantic import ValidationError

from sandbox.errors import SandboxError, error_body, invalid_request
from sandbox.models import ExecutionRecord, Status

log = logging.getLogger(__name__)

#: How much of stdout and of stderr the readable text carries (the structured record has all it kept).
STDOUT_CHARS = 20_000
STDERR_CHARS = 10_000
#: How much of each failing test case's streams the readable text shows.
CASE_CHARS = 2_000
#: The URI scheme of a session file handed back as an embedded resource.
SESSION_FILE_URI = "sandbox://sessions/{session_id}/files/{path}"


def execution_result(record: ExecutionRecord) -> CallToolResult:
    """A finished execution as a tool result: readable text first, the record as structured content.

    A program's own failure (runtime_error, timeout, ...) is a result, not a tool
    error: ``isError`` stays false and ``status`` says what happened.
    """
    content: list[ContentBlock] = [TextContent(type="text", text=readable(record))]
    return CallToolResult(content=content, structured_content=record.model_dump(mode="json"), is_error=False)


def readable(record: ExecutionRecord) -> str:
    """The text a model reads: output, stderr, each test case's verdict, then one status line."""
    parts = []
    if record.stdout:
        stdout = record.stdout
        parts.append(stdout if len(stdout) < STDOUT_CHARS else stdout[:STDOUT_CHARS] + "\n[...]")
    if record.stderr:
        parts.append("[stderr]\n" + record.stderr[-STDERR_CHARS:])
    for case in record.tests or ():
        verdict = {True: "passed", False: "FAILED", None: "ran"}[case.passed]
        detail = f": {case.message}" if case.message else ""
        parts.append(f"[case {case.index}: {verdict}, {case.status.value}{detail}]")
        if case.passed is False or case.status is not Status.OK:
            parts.extend(
                f"  {name}: {text[:CASE_CHARS]!r}"
                for name, text in (("stdout", case.stdout), ("stderr", case.stderr))
                if text
            )
    status = record.status.value if record.status else "running"
    line = f"[status: {status}, exit code {record.exit_code}, {record.wall_ms} ms"
    if record.compile is not None:
        line += f", compiled in {record.compile.wall_ms} ms"
    if record.stdout_truncated or record.stderr_truncated:
        line += ", output truncated"
    line += f"{', ' + record.message if record.message else ''}]"
    parts.append(line)
    return "\n".join(parts)


def error_object(exc: BaseException) -> dict[str, Any]:
    """``{status, message, findings}`` for ``exc``: the status word, never a traceback.

    REST carries the same three facts in its problem details (where ``status`` is the
    HTTP code, so the word is ``code`` there). An exception we did not expect is
    ``internal_error`` with nothing more, and goes to our log with its traceback.
    """
    if isinstance(exc, ValidationError):  # the tool's arguments did not fit its input schema
        exc = invalid_request(exc)
    if isinstance(exc, ToolError):  # raised by the SDK itself (an unknown tool): the caller's mistake
        return {"status": Status.REJECTED.value, "message": str(exc), "findings": []}
    if not isinstance(exc, SandboxError):
        log.error("tool failed", exc_info=exc)
    body = error_body(exc)
    return {
        "status": body.code.value,
        "message": body.message,
        "findings": [finding.model_dump(mode="json") for finding in body.findings],
    }


def tool_error(exc: BaseException) -> CallToolResult:
    """A tool error whose text is the error object alone and whose structured content is that object."""
    body = error_object(exc)
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=body, is_error=True)


def file_content(session_id: str, path: str, data: bytes) -> CallToolResult:
    """A session file: its text when it is UTF-8, else an embedded resource with the bytes and a MIME type.

    Binary data is never base64 inside a text block: a client shows (or saves) an
    embedded blob as what it is, and the model is not fed kilobytes of base64.
    """
    try:
        text = data.decode()
    except UnicodeDecodeError:
        mime_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
        uri = SESSION_FILE_URI.format(session_id=session_id, path=path.lstrip("/"))
        blob = BlobResourceContents(uri=uri, mime_type=mime_type, blob=base64.b64encode(data).decode())
        summary = TextContent(type="text", text=f"{path}: {len(data)} bytes of binary data ({mime_type})")
        return CallToolResult(content=[summary, EmbeddedResource(type="resource", resource=blob)])
    return CallToolResult(content=[TextContent(type="text", text=text)])
