"""Request building: the server's own models check fields before anything is sent; paths are escaped."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from sandbox.client import BadRequest, calls
from sandbox.client.config import ClientConfig
from sandbox.models import FileInput, TestCase

CONFIG = ClientConfig.resolve("http://h", None)


def test_only_what_the_caller_set_is_sent() -> None:
    call = calls.run(CONFIG, calls.execution_request("print(1)"))
    assert (call.method, call.path, call.json, call.params) == ("POST", "/v1/executions", {"code": "print(1)"}, {})
    call = calls.run(CONFIG, calls.execution_request("x", language="bash", limits={"wall_time_s": 2}), inline=True)
    assert call.json == {"code": "x", "language": "bash", "limits": {"wall_time_s": 2.0}}
    assert call.params == {"inline": "true"}


def test_files_as_a_mapping_of_text_and_bytes_or_as_entries() -> None:
    request = calls.execution_request(
        "x", files={"data/a.txt": "hé", "b.bin": b"\x00\xff"}, tests=[TestCase(stdin="1"), {"args": ["-v"]}]
    )
    body = calls.run(CONFIG, request).json
    assert body["files"] == [
        {"path": "data/a.txt", "content": "hé"},
        {"path": "b.bin", "content": base64.b64encode(b"\x00\xff").decode(), "encoding": "base64"},
    ]
    assert body["tests"] == [{"stdin": "1"}, {"args": ["-v"]}]
    entries = calls.execution_request("x", files=[FileInput(path="c.txt", content="c"), {"path": "d", "content": "d"}])
    assert [f.path for f in entries.files] == ["c.txt", "d"]


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"limits": {"wall_time_s": -1}}, "limits.wall_time_s"),
        ({"files": {"../etc/passwd": "x"}}, "files.0.path"),
        ({"env": {"LD_PRELOAD": "x"}}, "env"),
        ({"network": True}, "network"),
        ({"secrets": "TOKEN"}, "secrets must be a list"),
    ],
)
def test_a_field_the_server_would_refuse_is_refused_before_sending(options: dict[str, Any], field: str) -> None:
    with pytest.raises(BadRequest) as raised:
        calls.execution_request("x", **options)
    assert raised.value.status_code is None and field in str(raised.value) and "not sent" in str(raised.value)


def test_ids_and_paths_cannot_reach_another_route() -> None:
    assert calls.get("a/../b?x").path == "/v1/executions/a%2F..%2Fb%3Fx"
    assert calls.artifact("e1", "out/fig 1.png").path == "/v1/executions/e1/artifacts/out/fig%201.png"
    assert calls.session_read("s1", "d/#x").path == "/v1/sessions/s1/files/d/%23x"
    for bad in ("", "a/../b", "/abs", "a//b"):
        with pytest.raises(BadRequest, match="not a relative path"):
            calls.session_write("s1", bad, b"")
    with pytest.raises(BadRequest, match="not an id"):
        calls.cancel("..")


def test_secret_values_are_checked_like_the_server_does() -> None:
    assert calls.secret_set("TOKEN", "long enough value").json == {"value": "long enough value"}
    with pytest.raises(BadRequest, match="value"):
        calls.secret_set("TOKEN", "short")


def test_the_cache_flag_is_sent_and_refused_with_secrets_before_sending() -> None:
    assert calls.run(CONFIG, calls.execution_request("x", cache=True)).json == {"code": "x", "cache": True}
    with pytest.raises(BadRequest, match="cache cannot be combined with secrets") as raised:
        calls.execution_request("x", cache=True, secrets=["TOKEN"])
    assert raised.value.status_code is None
