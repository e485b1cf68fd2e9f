"""The host's intake of artifact frames (``engine.collected``): a runner's frames are untrusted."""

from __future__ import annotations

import json

import pytest

from sandbox.engine import ArtifactRules
from sandbox.engine.collected import MAX_SKIPPED, ArtifactIntake
from sandbox.engine.protocol import ProtocolError


def header(name: str, size: int, skipped: str | None = None) -> bytes:
    body: dict[str, object] = {"name": name, "size": size}
    if skipped is not None:
        body["skipped"] = skipped
    return json.dumps(body).encode()


def test_files_are_kept_within_the_hosts_own_caps_whatever_the_runner_says() -> None:
    intake = ArtifactIntake(ArtifactRules(max_files=2, max_bytes=10))
    for name, data in [("a", b"1234"), ("b", b"12345678"), ("c", b"1"), ("d", b"2"), ("e", b"3")]:
        intake.header(header(name, len(data)))
        intake.data(data)
    kept = intake.finish()
    assert [(a.name, a.data, a.skipped is None) for a in kept] == [
        ("a", b"1234", True),
        ("b", None, False),
        ("c", b"1", True),
        ("d", None, False),
        ("e", None, False),
    ]
    assert "10 bytes" in (kept[1].skipped or "") and "2 files" in (kept[3].skipped or "")


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[]",
        header("../etc/passwd", 1),
        header("/abs", 1),
        header("a//b", 1),
        header("a/./b", 1),
        header("", 1),  # no name and not skipped
        header("x" * 2000, 1),
        json.dumps({"name": "a", "size": -1}).encode(),
        json.dumps({"name": "a", "size": "1"}).encode(),
        json.dumps({"name": "a", "size": 1, "skipped": 5}).encode(),
        json.dumps({"name": 7, "size": 1}).encode(),
    ],
)
def test_malformed_headers_are_protocol_errors(payload: bytes) -> None:
    with pytest.raises(ProtocolError):
        ArtifactIntake(ArtifactRules()).header(payload)


def test_out_of_order_frames_are_protocol_errors() -> None:
    intake = ArtifactIntake(ArtifactRules())
    with pytest.raises(ProtocolError, match="no artifact header"):
        intake.data(b"x")
    intake.header(header("a", 1))
    with pytest.raises(ProtocolError, match="bytes were due"):
        intake.header(header("b", 1))
    with pytest.raises(ProtocolError, match="announced"):
        intake.data(b"too long")
    intake.header(header("c", 1))
    with pytest.raises(ProtocolError, match="never came"):
        intake.finish()


def test_a_name_sent_twice_is_a_protocol_error() -> None:
    intake = ArtifactIntake(ArtifactRules())
    intake.header(header("a", 1))
    intake.data(b"x")
    with pytest.raises(ProtocolError, match="twice"):
        intake.header(header("a", 1))


def test_a_flood_of_skipped_entries_is_counted_not_kept() -> None:
    intake = ArtifactIntake(ArtifactRules())
    for i in range(MAX_SKIPPED + 500):
        intake.header(header(f"f{i}", 0, skipped="a symbolic link"))
    kept = intake.finish()
    assert len(kept) == MAX_SKIPPED + 1
    assert kept[-1].skipped == "500 more skipped artifacts, not listed one by one"


def test_skipped_names_are_shown_printable_and_may_repeat_but_collected_ones_must_be_plain() -> None:
    intake = ArtifactIntake(ArtifactRules())
    intake.header(header("out/a\nb", 1, skipped="a name with control characters"))
    intake.header(header("out/a\nb", 1, skipped="a name with control characters"))
    intake.header(json.dumps({"name": "out/\udcff", "size": 1, "skipped": "not\x1bUTF-8"}).encode())
    assert [(a.name, a.skipped) for a in intake.finish()] == [
        ("out/a\ufffdb", "a name with control characters"),
        ("out/a\ufffdb", "a name with control characters"),
        ("out/\ufffd", "not\ufffdUTF-8"),
    ]
    for name in ["out/a\nb", "out/\udcff", "out/\x1b[2J"]:
        with pytest.raises(ProtocolError):
            ArtifactIntake(ArtifactRules()).header(json.dumps({"name": name, "size": 1}).encode())
