"""What a tool call answers, as MCP content: the one place results and errors become blocks.

Every tool of the door ends here, so an agent reads the same shapes whatever it
called: an execution (``execute`` and ``session_execute`` alike) is readable text
plus the record as ``structuredContent``; a refusal or failure is the error object
``{status, message, findings}`` alone, as text and as ``structuredContent``, with
``isError``; a session file is text when it is UTF-8 and an embedded binary
resource otherwise. ``execution_result`` is the one function that turns a record
into content, artifacts included: an image as ``ImageContent`` (a preview within
``PREVIEW_BYTES``, so a plot costs an agent a few tens of KB), a small text file
as an embedded text resource, anything else (or past ``EMBED_BUDGET``) as a
resource link the client reads with ``resources/read`` (``ARTIFACT_URI``).
"""

import base64
import json
import logging
import mimetypes
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import (
    BlobResourceContents,
    CallToolResult,
    ContentBlock,
    EmbeddedResource,
    ImageContent,
    ResourceLink,
    TextContent,
    TextResourceContents,
)
from pydantic import ValidationError

from sandbox.errors import SandboxError, error_body, invalid_request
from sandbox.imaging import preview
from sandbox.models import Artifact, ExecutionRecord, Status

log = logging.getLogger(__name__)

#: How much of stdout and of stderr the readable text carries (the structured record has all it kept).
STDOUT_CHARS = 20_000
STDERR_CHARS = 10_000
#: How much of each failing test case's streams the readable text shows.
CASE_CHARS = 2_000
#: The URI scheme of a session file handed back as an embedded resource.
SESSION_FILE_URI = "sandbox://sessions/{session_id}/files/{path}"
#: An artifact's bytes, read with ``resources/read`` by the key that ran it (the name is percent-encoded).
ARTIFACT_URI = "sandbox://executions/{execution_id}/artifacts/{name}"
#: An image artifact's preview: its longest side and its bytes at most (the full image is a resource link).
PREVIEW_SIDE = 1024
PREVIEW_BYTES = 48 << 10
#: Text artifacts up to this size are embedded; larger ones and binary files are linked.
EMBED_TEXT_BYTES = 16 << 10
#: The bytes of images and embedded files one result carries at most; past it, artifacts are linked.
EMBED_BUDGET = 256 << 10
#: Images previewed in one result at most (a preview of a large image costs up to ~0.5 s of CPU); more are linked.
MAX_PREVIEWS = 4
TEXT_TYPES = ("text/", "application/json", "application/xml", "application/x-yaml")


def execution_result(record: ExecutionRecord, contents: Sequence[bytes | None] = ()) -> CallToolResult:
    """A finished execution as a tool result: readable text first, then its artifacts; the record as
    structured content (artifact entries without their bytes).

    ``contents``: the artifacts' bytes, in the order of ``record.artifacts`` (empty: links only).
    A program's own failure (runtime_error, timeout, ...) is a result, not a tool
    error: ``isError`` stays false and ``status`` says what happened.
    """
    content: list[ContentBlock] = [TextContent(type="text", text=readable(record))]
    content.extend(artifact_blocks(record, contents))
    return CallToolResult(content=content, structured_content=record.model_dump(mode="json"), is_error=False)


def artifact_uri(execution_id: str, name: str) -> str:
    return ARTIFACT_URI.format(execution_id=execution_id, name=quote(name, safe=""))


def artifact_blocks(record: ExecutionRecord, contents: Sequence[bytes | None]) -> list[ContentBlock]:
    """The artifacts as content blocks, images first, within ``EMBED_BUDGET`` (the rest as links)."""
    blocks: list[ContentBlock] = []
    budget, previews = EMBED_BUDGET, MAX_PREVIEWS
    found = list(zip(record.artifacts, list(contents) + [None] * (len(record.artifacts) - len(contents)), strict=True))
    for entry, data in sorted(found, key=lambda item: not item[0].media_type.startswith("image/")):
        if entry.skipped is not None:
            continue
        image = entry.media_type.startswith("image/")
        block = _embedded(record.id, entry, data, budget) if previews > 0 or not image else None
        previews -= image
        if block is None:
            block = _link(record.id, entry)
        elif isinstance(block, ImageContent):
            budget -= len(block.data) * 3 // 4
        else:
            budget -= entry.size
        blocks.append(block)
    return blocks


def _embedded(execution_id: str, entry: Artifact, data: bytes | None, budget: int) -> ContentBlock | None:
    """An image's preview, or a small text file's text; None when it is to be linked instead."""
    if data is None:
        return None
    if entry.media_type.startswith("image/"):
        small = preview(data, entry.media_type, max_side=PREVIEW_SIDE, max_bytes=min(PREVIEW_BYTES, budget))
        if small is None:
            return None
        return ImageContent(type="image", data=base64.b64encode(small).decode(), mime_type="image/png")
    if entry.media_type.startswith(TEXT_TYPES) and len(data) <= min(EMBED_TEXT_BYTES, budget):
        try:
            text = data.decode()
        except UnicodeDecodeError:
            return None
        uri = artifact_uri(execution_id, entry.name)
        return EmbeddedResource(
            type="resource", resource=TextResourceContents(uri=uri, mime_type=entry.media_type, text=text)
        )
    return None


def _link(execution_id: str, entry: Artifact) -> ResourceLink:
    return ResourceLink(
        type="resource_link",
        uri=artifact_uri(execution_id, entry.name),
        name=entry.name,
        mime_type=entry.media_type,
        size=entry.size,
        description=f"{entry.size} bytes, sha256 {entry.sha256}; read it with resources/read",
    )


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
    kept = [a.name for a in record.artifacts if a.skipped is None]
    if kept:
        line += f", artifacts: {', '.join(kept[:20])}{' ...' if len(kept) > 20 else ''}"
    skipped = [a for a in record.artifacts if a.skipped is not None]
    if skipped:
        line += f", {len(skipped)} artifact(s) skipped ({skipped[0].name}: {skipped[0].skipped})"
    if record.cached_from:
        line += f", cached: the result of execution {record.cached_from} (no container ran)"
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
