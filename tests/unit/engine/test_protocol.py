"""Host side of the runner protocol, checked against the runner's own reader and writer."""

from __future__ import annotations

import asyncio
import base64
import io
import itertools
import json
import socket
import struct
import time
from types import ModuleType, SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.engine import RunFile, RunSpec
from sandbox.engine.protocol import (
    FRAME_TYPES,
    MAGIC,
    MAX_OUTPUT_FRAME,
    MAX_RESULT_FRAME,
    DockerStreamDemuxer,
    Frame,
    FrameParser,
    FrameReader,
    ProtocolError,
    RunnerReport,
    encode_request,
)
from sandbox.errors import EngineError
from tests.unit.helpers import make_limits

# ----------------------------------------------------------------------- helpers


def make_spec(**overrides: object) -> RunSpec:
    values: dict[str, object] = {
        "image": "sandbox-python:0123456789ab",
        "mode": "python",
        "argv": ("python3", "main.py", "--flag"),
        "files": (RunFile("main.py", b"print('hi')\n"), RunFile("data/blob.bin", bytes(range(256)), 0o600)),
        "limits": make_limits(wall_time_s=2.5, cpu_time_s=3, workdir_mb=32, stdout_bytes=1000, stderr_bytes=2000),
        "stdin": b"in\x00put",
        "env": {"GREETING": "hello"},
        "nofile": 128,
        "cpus": 0.5,
    }
    values.update(overrides)
    return RunSpec(**values)  # type: ignore[arg-type]


def runner_read_request(runner: ModuleType, data: bytes, monkeypatch: pytest.MonkeyPatch) -> dict:
    """Feed ``data`` to the runner's real ``read_request`` as if it were the container's stdin."""
    stdin = io.BytesIO(data)

    def read(fd: int, n: int) -> bytes:
        assert fd == 0, "the runner reads its request from fd 0"
        return stdin.read(min(n, 7))  # short reads on purpose: read_exact must loop

    monkeypatch.setattr(runner.wire, "os", SimpleNamespace(read=read))
    return runner.wire.read_request()


def runner_frames(runner: ModuleType, monkeypatch: pytest.MonkeyPatch, frames: list[tuple[bytes, bytes]]) -> bytes:
    """The bytes the runner's real ``write_frame`` puts on its stdout for ``frames``."""
    out = bytearray()

    def write(fd: int, data: memoryview) -> int:
        assert fd == 1, "the runner writes frames to fd 1"
        n = max(1, len(data) // 2)  # partial writes on purpose: write_frame must loop
        out.extend(data[:n])
        return n

    monkeypatch.setattr(runner.wire, "os", SimpleNamespace(write=write))
    for kind, payload in frames:
        runner.wire.write_frame(kind, payload)
    return bytes(out)


def docker_frame(stream: int, payload: bytes) -> bytes:
    return struct.pack(">BxxxI", stream, len(payload)) + payload


def good_report(**overrides: object) -> dict:
    report: dict[str, object] = {
        "exit_code": 0,
        "signal": None,
        "wall_ms": 12,
        "cpu_ms": 3,
        "peak_memory_bytes": 9 << 20,
        "stdout_truncated": False,
        "stderr_truncated": False,
        "timed_out": False,
        "output_limit": None,
        "cpu_limit_hit": False,
        "oom_killed": False,
    }
    report.update(overrides)
    return report


# ------------------------------------------------------------------- the request


def test_encode_request_is_magic_length_json() -> None:
    data = encode_request(make_spec())
    assert data[:4] == MAGIC
    (length,) = struct.unpack(">I", data[4:8])
    assert length == len(data) - 8
    body = json.loads(data[8:])
    assert body["v"] == 1
    assert body["mode"] == "python"
    assert body["argv"] == ["python3", "main.py", "--flag"]
    assert body["env"] == {"GREETING": "hello"}
    assert base64.b64decode(body["stdin"]) == b"in\x00put"
    assert body["files"] == [
        {"path": "main.py", "data": base64.b64encode(b"print('hi')\n").decode(), "mode": 0o644},
        {"path": "data/blob.bin", "data": base64.b64encode(bytes(range(256))).decode(), "mode": 0o600},
    ]
    assert body["limits"] == {
        "wall_ms": 2500,
        "cpu_s": 3,
        "fsize_bytes": 32 << 20,
        "nofile": 128,
        "stdout_bytes": 1000,
        "stderr_bytes": 2000,
    }


def test_runner_reads_the_encoded_request(runner: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = make_spec(argv=("bash", "main.sh", "ünïcode", "a b"), mode="exec")
    request = runner_read_request(runner, encode_request(spec), monkeypatch)
    assert request == json.loads(encode_request(spec)[8:])
    assert request["argv"] == ["bash", "main.sh", "ünïcode", "a b"]
    assert [base64.b64decode(f["data"]) for f in request["files"]] == [f.data for f in spec.files]


def test_runner_rejects_bad_magic_and_version(runner: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    good = encode_request(make_spec())
    with pytest.raises(ValueError, match="bad magic"):
        runner_read_request(runner, b"SBX2" + good[4:], monkeypatch)
    body = json.dumps({"v": 2}).encode()
    with pytest.raises(ValueError, match="unsupported protocol version"):
        runner_read_request(runner, MAGIC + struct.pack(">I", len(body)) + body, monkeypatch)
    with pytest.raises(EOFError):
        runner_read_request(runner, good[:-1], monkeypatch)


@pytest.mark.parametrize(
    "field",
    ["code", "argv", "env"],
)
def test_request_has_no_raw_control_bytes(field: str) -> None:
    """Ctrl-P ctrl-Q is Docker's detach sequence: it must never appear raw on the attach stream."""
    nasty = "a\x10\x11b\x00\x1b[31m\x7f\u2028é"
    if field == "code":
        spec = make_spec(files=(RunFile("main.py", nasty.encode()),))
    elif field == "argv":
        spec = make_spec(argv=("python3", "main.py", nasty))
    else:
        spec = make_spec(env={"X": nasty})
    payload = encode_request(spec)[8:]
    assert all(0x20 <= b < 0x7F for b in payload), payload
    assert b"\x10\x11" not in encode_request(spec)
    body = json.loads(payload)
    if field == "argv":
        assert body["argv"][-1] == nasty
    elif field == "env":
        assert body["env"]["X"] == nasty


# ------------------------------------------------------------------ runner frames


def test_frame_parser_round_trips_runner_frames(runner: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    frames = [
        (b"H", b'{"v": 1}'),
        (b"O", b"hello\n"),
        (b"E", b""),
        (b"E", b"\x00\xff binary"),
        (b"O", b"x" * MAX_OUTPUT_FRAME),
        (b"R", json.dumps(good_report()).encode()),
    ]
    data = runner_frames(runner, monkeypatch, frames)
    parser = FrameParser()
    got = list(parser.feed(data))
    assert got == [Frame(FRAME_TYPES[kind], payload) for kind, payload in frames]
    assert parser.pending == 0


def test_frame_parser_byte_by_byte(runner: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    frames = [(b"O", b"abc"), (b"E", b"de"), (b"O", b""), (b"R", b"{}")]
    data = runner_frames(runner, monkeypatch, frames)
    parser = FrameParser()
    got: list[Frame] = []
    for i in range(len(data)):
        got.extend(parser.feed(data[i : i + 1]))
    assert got == [Frame(FRAME_TYPES[k], p) for k, p in frames]
    assert parser.pending == 0


def test_frame_parser_keeps_an_incomplete_frame_pending() -> None:
    parser = FrameParser()
    assert list(parser.feed(b"O\x00\x00\x00\x05abc")) == []
    assert parser.pending == 8
    assert list(parser.feed(b"de")) == [Frame("stdout", b"abcde")]
    assert parser.pending == 0


@pytest.mark.parametrize("kind", [b"Z", b"o", b"\x00", b"{"])
def test_frame_parser_rejects_unknown_types(kind: bytes) -> None:
    with pytest.raises(ProtocolError, match="unknown frame type"):
        list(FrameParser().feed(kind + b"\x00\x00\x00\x01x"))


@pytest.mark.parametrize(
    ("kind", "cap"),
    [(b"O", MAX_OUTPUT_FRAME), (b"E", MAX_OUTPUT_FRAME), (b"R", MAX_RESULT_FRAME), (b"X", MAX_RESULT_FRAME)],
)
def test_frame_parser_rejects_oversized_frames_from_the_header_alone(kind: bytes, cap: int) -> None:
    # At the cap: accepted (waits for the payload).
    parser = FrameParser()
    assert list(parser.feed(kind + struct.pack(">I", cap))) == []
    # One byte over: refused before any payload arrives, so nothing is buffered for it.
    with pytest.raises(ProtocolError, match="exceeds"):
        list(FrameParser().feed(kind + struct.pack(">I", cap + 1)))
    with pytest.raises(ProtocolError, match="exceeds"):
        list(FrameParser().feed(kind + b"\xff\xff\xff\xff"))


def test_protocol_error_is_an_engine_error() -> None:
    assert issubclass(ProtocolError, EngineError)


@settings(max_examples=100, deadline=None)
@given(
    frames=st.lists(st.tuples(st.sampled_from([b"O", b"E", b"R", b"X", b"H"]), st.binary(max_size=200)), max_size=8),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=12),
)
def test_frame_parser_any_chunking(frames: list[tuple[bytes, bytes]], cuts: list[int]) -> None:
    data = b"".join(struct.pack(">cI", k, len(p)) + p for k, p in frames)
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    parser = FrameParser()
    got: list[Frame] = []
    for start, end in itertools.pairwise(points):
        got.extend(parser.feed(data[start:end]))
    assert got == [Frame(FRAME_TYPES[k], p) for k, p in frames]
    assert parser.pending == 0


# ------------------------------------------------------------- Docker's multiplexing


def merge(chunks: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
    """Join adjacent chunks of the same stream; drop empty ones."""
    merged: list[tuple[int, bytes]] = []
    for stream, data in chunks:
        if not data:
            continue
        if merged and merged[-1][0] == stream:
            merged[-1] = (stream, merged[-1][1] + data)
        else:
            merged.append((stream, data))
    return merged


@settings(max_examples=100, deadline=None)
@given(
    frames=st.lists(st.tuples(st.sampled_from([1, 2]), st.binary(max_size=300)), max_size=10),
    cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=20),
)
def test_demuxer_splits_streams_at_any_chunk_boundary(frames: list[tuple[int, bytes]], cuts: list[int]) -> None:
    data = b"".join(docker_frame(s, p) for s, p in frames)
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    demux = DockerStreamDemuxer()
    got: list[tuple[int, bytes]] = []
    for start, end in itertools.pairwise(points):
        got.extend(demux.feed(data[start:end]))
    assert merge(got) == merge(frames)
    for stream in (1, 2):
        assert b"".join(d for s, d in got if s == stream) == b"".join(p for s, p in frames if s == stream)


def test_demuxer_byte_by_byte() -> None:
    data = docker_frame(1, b"out") + docker_frame(2, b"err") + docker_frame(1, b"") + docker_frame(1, b"!")
    demux = DockerStreamDemuxer()
    got = [item for i in range(len(data)) for item in demux.feed(data[i : i + 1])]
    assert merge(got) == [(1, b"out"), (2, b"err"), (1, b"!")]


@pytest.mark.parametrize("stream", [3, 4, 255])
def test_demuxer_rejects_a_bad_stream_id(stream: int) -> None:
    demux = DockerStreamDemuxer()
    assert list(demux.feed(docker_frame(1, b"ok"))) == [(1, b"ok")]
    with pytest.raises(ProtocolError, match=f"unknown Docker stream id {stream}"):
        list(demux.feed(docker_frame(stream, b"bad")))


# ------------------------------------------------------------------- FrameReader


@pytest.mark.anyio
async def test_frame_reader_reads_frames_keeps_diag_and_sees_eof() -> None:
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    try:
        stdout = struct.pack(">cI", b"H", 2) + b"{}" + struct.pack(">cI", b"O", 3) + b"abc"
        wire = docker_frame(2, b"runner says hi") + docker_frame(1, stdout[:4]) + docker_frame(1, stdout[4:])
        theirs.sendall(wire)
        reader = FrameReader(ours)
        reader.deadline = time.monotonic() + 5
        assert await reader.next() == Frame("hello", b"{}")
        assert await reader.next() == Frame("stdout", b"abc")
        assert reader.diag == b"runner says hi"
        assert reader.received == len(wire)
        theirs.shutdown(socket.SHUT_WR)
        assert await reader.next() is None
    finally:
        ours.close()
        theirs.close()


@pytest.mark.anyio
async def test_frame_reader_times_out_at_its_deadline() -> None:
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    try:
        reader = FrameReader(ours)
        reader.deadline = time.monotonic() + 0.05
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await reader.next()
        assert time.monotonic() - started < 2
        reader.deadline = time.monotonic() - 1
        with pytest.raises(TimeoutError):
            await reader.next()
    finally:
        ours.close()
        theirs.close()


@pytest.mark.anyio
async def test_frame_reader_raises_protocol_errors() -> None:
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    try:
        theirs.sendall(docker_frame(1, b"Q\x00\x00\x00\x00"))
        reader = FrameReader(ours)
        reader.deadline = time.monotonic() + 5
        with pytest.raises(ProtocolError):
            await asyncio.wait_for(reader.next(), 5)
    finally:
        ours.close()
        theirs.close()


# ------------------------------------------------------------------ RunnerReport


def test_report_parses_a_good_report() -> None:
    report = RunnerReport.parse(json.dumps(good_report(exit_code=3, output_limit="stderr")).encode())
    assert report == RunnerReport(
        exit_code=3,
        signal=None,
        wall_ms=12,
        cpu_ms=3,
        peak_memory_bytes=9 << 20,
        stdout_truncated=False,
        stderr_truncated=False,
        timed_out=False,
        output_limit="stderr",
        cpu_limit_hit=False,
        oom_killed=False,
    )


def test_report_defaults_missing_fields() -> None:
    report = RunnerReport.parse(b"{}")
    assert report.exit_code is None and report.signal is None
    assert report.wall_ms == report.cpu_ms == report.peak_memory_bytes == 0
    assert not (report.timed_out or report.cpu_limit_hit or report.oom_killed or report.stdout_truncated)
    assert report.output_limit is None


def test_report_clamps_negative_counts() -> None:
    report = RunnerReport.parse(json.dumps(good_report(wall_ms=-5, cpu_ms=-1, peak_memory_bytes=-7)).encode())
    assert (report.wall_ms, report.cpu_ms, report.peak_memory_bytes) == (0, 0, 0)


@pytest.mark.parametrize("payload", [b"", b"not json", b"{'a': 1}", b"\xff\xfe", b"1" * 5000])
def test_report_rejects_non_json(payload: bytes) -> None:
    with pytest.raises(ProtocolError, match="not JSON"):
        RunnerReport.parse(payload)


@pytest.mark.parametrize("payload", [b"[]", b"1", b'"ok"', b"null", b"true"])
def test_report_rejects_non_objects(payload: bytes) -> None:
    with pytest.raises(ProtocolError, match="not a JSON object"):
        RunnerReport.parse(payload)


@pytest.mark.parametrize(
    "overrides",
    [
        {"exit_code": "0"},
        {"exit_code": True},
        {"exit_code": 1.0},
        {"exit_code": 2**31},
        {"exit_code": -(2**31) - 1},
        {"exit_code": 10**30},
        {"signal": "9"},
        {"signal": False},
        {"wall_ms": "12"},
        {"wall_ms": 2**40},
        {"cpu_ms": [1]},
        {"timed_out": 1},
        {"timed_out": "false"},
        {"oom_killed": None},
        {"cpu_limit_hit": 0},
        {"stdout_truncated": "yes"},
        {"stderr_truncated": {}},
    ],
)
def test_report_rejects_wrong_types(overrides: dict) -> None:
    with pytest.raises(ProtocolError, match="result field"):
        RunnerReport.parse(json.dumps(good_report(**overrides)).encode())


@pytest.mark.parametrize("value", ["stdin", "", "STDOUT", 1, True, ["stdout"], {"stdout": 1}])
def test_report_rejects_invalid_output_limit(value: object) -> None:
    with pytest.raises(ProtocolError, match="output_limit"):
        RunnerReport.parse(json.dumps(good_report(output_limit=value)).encode())


@pytest.mark.parametrize("value", [True, "1", 1.5, -1, 2**63, [1]])
def test_report_ignores_a_bad_peak_memory(value: object) -> None:
    assert RunnerReport.parse(json.dumps(good_report(peak_memory_bytes=value)).encode()).peak_memory_bytes == 0


@pytest.mark.parametrize("payload", [b"[" * 60_000, b'{"a":' * 12_000])
def test_report_rejects_deeply_nested_json_as_protocol_error(payload: bytes) -> None:
    assert len(payload) <= MAX_RESULT_FRAME
    with pytest.raises(ProtocolError):
        RunnerReport.parse(payload)
