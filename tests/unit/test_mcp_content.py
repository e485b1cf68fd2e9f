"""How the MCP door turns results, errors and files into content (``sandbox/mcp/content.py``)."""

from __future__ import annotations

import base64
import json

from mcp.types import BlobResourceContents, EmbeddedResource, TextContent
from pydantic import ValidationError

from sandbox.errors import CapacityUnavailable, ValidationRejected
from sandbox.mcp.content import error_object, execution_result, file_content, readable, tool_error
from sandbox.models import ExecutionRecord, Finding, Limits, Status


def test_a_binary_file_is_an_embedded_blob_with_its_mime_type() -> None:
    data = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    result = file_content("s1", "plots/fig.png", data)
    (summary, embedded) = result.content
    assert (
        isinstance(summary, TextContent)
        and "binary" in summary.text
        and base64.b64encode(data).decode() not in summary.text
    )
    assert isinstance(embedded, EmbeddedResource) and isinstance(embedded.resource, BlobResourceContents)
    assert (
        embedded.resource.mime_type == "image/png"
        and embedded.resource.uri == "sandbox://sessions/s1/files/plots/fig.png"
    )
    assert base64.b64decode(embedded.resource.blob) == data
    unknown = file_content("s1", "blob", b"\xff\xfe\x00")
    assert unknown.content[1].resource.mime_type == "application/octet-stream"  # type: ignore[union-attr]


def test_a_text_file_stays_text() -> None:
    result = file_content("s1", "notes.txt", "héllo\n".encode())
    assert [(block.type, block.text) for block in result.content] == [("text", "héllo\n")]  # type: ignore[union-attr]


def test_a_tool_error_is_the_error_object_alone_in_text_and_structured_content() -> None:
    finding = Finding(rule_id="import.denied", message="no", line=1, col=0)
    result = tool_error(ValidationRejected("denied", findings=[finding]))
    assert result.is_error and len(result.content) == 1
    body = json.loads(result.content[0].text)  # type: ignore[union-attr]
    assert body == result.structured_content
    assert set(body) == {"status", "message", "findings"} and body["status"] == "validation_rejected"
    assert body["findings"][0]["rule_id"] == "import.denied"
    assert error_object(CapacityUnavailable("busy"))["status"] == "capacity_unavailable"
    assert error_object(RuntimeError("/srv/secret")) == {
        "status": "internal_error",
        "message": "internal error",
        "findings": [],
    }
    try:
        Limits(wall_time_s=-1)
    except ValidationError as exc:
        bad = error_object(exc)
    assert bad["status"] == "rejected" and "wall_time_s" in bad["message"]


def test_an_execution_is_readable_text_then_the_record() -> None:
    record = ExecutionRecord.model_validate(
        {
            "id": "e1",
            "state": "done",
            "status": Status.RUNTIME_ERROR,
            "exit_code": 2,
            "stdout": "out\n",
            "stderr": "err\n",
            "wall_ms": 12,
            "language": "python",
            "policy": "standard",
            "created_at": "2026-11-30T00:00:00Z",
        }
    )
    result = execution_result(record)
    assert not result.is_error and result.structured_content["status"] == "runtime_error"
    assert [block.type for block in result.content] == ["text"]
    assert (
        result.content[0].text
        == readable(record)
        == "out\n\n[stderr]\nerr\n\n[status: runtime_error, exit code 2, 12 ms]"
    )  # type: ignore[union-attr]
