"""Request models: strict fields, safe file paths."""

from __future__ import annotations

import base64

import pytest
from pydantic import ValidationError

from sandbox.models import ExecutionRequest, ExecutionResult, FileInput, Limits, Status


@pytest.mark.parametrize(
    "path",
    [
        "main.py",
        "data/in.txt",
        "a/b/c/d/e/f/g/h",  # 8 parts: the deepest allowed
        ".hidden",
        "..dots",
        "a..b/c",
        "with space.txt",
        "ünïcode.txt",
        "x" * 255,
    ],
)
def test_file_path_accepted(path: str) -> None:
    assert FileInput(path=path).path == path


@pytest.mark.parametrize(
    "path",
    [
        "/etc/passwd",
        "/",
        "//x",
        "..",
        "../x",
        "a/../b",
        "a/..",
        ".",
        "./x",
        "a/./b",
        "a/.",
        "a//b",
        "a/",
        "/a/b",
        "a\x00b",
        "\x00",
    ],
)
def test_file_path_rejected(path: str) -> None:
    with pytest.raises(ValidationError, match="must be relative"):
        FileInput(path=path)


@pytest.mark.parametrize("path", ["", "x" * 256])
def test_file_path_length(path: str) -> None:
    with pytest.raises(ValidationError):
        FileInput(path=path)


def test_deep_nesting_rejected() -> None:
    with pytest.raises(ValidationError, match="more than 8 parts"):
        FileInput(path="a/b/c/d/e/f/g/h/i")
    with pytest.raises(ValidationError, match="more than 8 parts"):
        FileInput(path="/".join("d" * 1 for _ in range(100)))


def test_utf8_content() -> None:
    assert FileInput(path="a", content="héllo").data() == "héllo".encode()
    assert FileInput(path="a").data() == b""


def test_base64_content_decodes() -> None:
    blob = bytes(range(256))
    assert FileInput(path="b", content=base64.b64encode(blob).decode(), encoding="base64").data() == blob


@pytest.mark.parametrize("content", ["not base64!", "YW Jj", "YWJ", "YWJj\n", "\x00"])
def test_bad_base64_rejected(content: str) -> None:
    with pytest.raises(ValidationError, match="not valid base64"):
        FileInput(path="b.bin", content=content, encoding="base64")


def test_unknown_encoding_rejected() -> None:
    with pytest.raises(ValidationError):
        FileInput(path="a", content="x", encoding="hex")  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["network", "privileged", "image", "environment", "user"])
def test_request_forbids_unknown_fields(field: str) -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        ExecutionRequest.model_validate({"code": "print(1)", field: True})


def test_limits_and_files_forbid_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        ExecutionRequest.model_validate({"code": "", "limits": {"network": "bridge"}})
    with pytest.raises(ValidationError):
        ExecutionRequest.model_validate({"code": "", "files": [{"path": "a", "mode": 0o4755}]})


def test_request_defaults() -> None:
    request = ExecutionRequest(code="print(1)")
    assert request.language == "python"
    assert request.files == [] and request.args == [] and request.stdin == ""
    assert request.limits == Limits()


def test_request_requires_code() -> None:
    with pytest.raises(ValidationError):
        ExecutionRequest.model_validate({})


@pytest.mark.parametrize(
    "limits",
    [{"wall_time_s": 0}, {"wall_time_s": -1}, {"memory_mb": 0}, {"cpu_time_s": -5}, {"stdout_bytes": 0}],
)
def test_limits_must_be_positive(limits: dict) -> None:
    with pytest.raises(ValidationError):
        Limits(**limits)


def test_limits_reject_nan() -> None:
    with pytest.raises(ValidationError):
        Limits(wall_time_s=float("nan"))


def test_request_caps_the_number_of_files_and_args() -> None:
    with pytest.raises(ValidationError):
        ExecutionRequest(code="", args=["x"] * 257)
    with pytest.raises(ValidationError):
        ExecutionRequest(code="", files=[FileInput(path=f"f{i}") for i in range(257)])


def test_status_values_are_stable() -> None:
    assert {s.value for s in Status} == {
        "ok",
        "runtime_error",
        "timeout",
        "cpu_time_exceeded",
        "memory_exceeded",
        "output_limit_exceeded",
        "killed",
        "validation_rejected",
        "syntax_error",
        "compile_error",
        "rejected",
        "capacity_unavailable",
        "internal_error",
    }


def test_result_serialises_status_as_its_value() -> None:
    result = ExecutionResult(status=Status.TIMEOUT, message="m")
    assert result.model_dump(mode="json")["status"] == "timeout"


@pytest.mark.parametrize(
    "fields",
    [
        {"code": "print(1)", "args": ["\ud800"]},
        {"code": "print(1)", "stdin": "a\udfffb"},
        {"code": "print(1)", "files": [{"path": "a.txt", "content": "x\ud83d"}]},
        {"code": "print(1)", "files": [{"path": "\udc80.txt"}]},
        {"code": "print(1)", "policy": "st\ud800"},
    ],
    ids=["args", "stdin", "file-content", "file-path", "policy"],
)
def test_a_lone_surrogate_anywhere_in_a_request_is_refused(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match=r"not valid Unicode text|unable to parse raw data as a unicode string"):
        ExecutionRequest(**fields)  # type: ignore[arg-type]


def test_file_paths_are_measured_in_bytes_as_the_kernel_does() -> None:
    FileInput(path="é" * 127 + "x")  # 255 bytes: fine
    with pytest.raises(ValidationError, match="longer than 255 bytes"):
        FileInput(path="é" * 128)  # 128 characters, 256 bytes
    with pytest.raises(ValidationError, match="longer than 1024 bytes"):
        FileInput(path="/".join(["é" * 120] * 5))
