"""Host side of the runner protocol (version 1); the runner side is the package ``images/runner/sandbox_runner``.

Both directions are documented in the runner package's docstring (its ``__init__.py``). Everything read
here comes from a container the user's program shares, so it is parsed as
untrusted input: frame sizes are capped, unknown frame types and malformed JSON
are protocol errors, and numeric fields are type-checked before use.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import socket
import struct
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from sandbox.engine.spec import RunSpec
from sandbox.errors import EngineError

PROTOCOL_VERSION = 1
MAGIC = b"SBX1"
FRAME_HEADER = struct.Struct(">cI")
DOCKER_HEADER = struct.Struct(">BxxxI")
MAX_OUTPUT_FRAME = 1 << 20
MAX_RESULT_FRAME = 64 << 10
MAX_FILE_FRAME = 32 << 20
#: A compile's or a test case's frame: its result fields and output heads (64 KiB each at most), base64.
MAX_REPORT_FRAME = 1 << 20
#: An artifact's header: its name (1 KiB at most, as a request's file path) and size, or why it was skipped.
MAX_ARTIFACT_FRAME = 8 << 10
#: The most of a compiler's output the runner keeps and sends back.
COMPILE_OUTPUT_HEAD = 256 << 10
FRAME_CAPS = {
    "stdout": MAX_OUTPUT_FRAME,
    "stderr": MAX_OUTPUT_FRAME,
    "file": MAX_FILE_FRAME,
    "compile": MAX_REPORT_FRAME,
    "case": MAX_REPORT_FRAME,
    "artifact": MAX_ARTIFACT_FRAME,
}
FRAME_TYPES = {
    b"H": "hello",
    b"O": "stdout",
    b"E": "stderr",
    b"R": "result",
    b"X": "error",
    b"F": "file",
    b"C": "compile",
    b"T": "case",
    b"A": "artifact",
}
WORKSPACE = "/workspace"


class ProtocolError(EngineError):
    """The runner sent something that is not protocol v1."""


def runner_limits(spec: RunSpec) -> dict[str, int]:
    """The limits as the runner reads them."""
    limits = spec.limits
    return {
        "wall_ms": int(limits.wall_time_s * 1000),
        "cpu_s": 0 if spec.mode == "session" else limits.cpu_time_s,  # a session sets it per cell
        "fsize_bytes": limits.workdir_mb << 20,
        "nofile": spec.nofile,
        "stdout_bytes": limits.stdout_bytes,
        "stderr_bytes": limits.stderr_bytes,
    }


def compile_limits(spec: RunSpec) -> dict[str, int]:
    """The compile's limits as the runner reads them: its own wall, CPU; the run's output cap for its output."""
    limits = spec.limits
    return {
        **runner_limits(spec),
        "wall_ms": int(limits.compile_wall_time_s * 1000),
        "cpu_s": limits.compile_cpu_time_s,
        "stdout_bytes": limits.stderr_bytes,
    }


def encode_request(spec: RunSpec, session: dict[str, object] | None = None) -> bytes:
    """The message that starts a run (or opens a session: ``session`` holds its options, see the runner)."""
    stages: dict[str, object] = {}
    if spec.compile_argv:
        stages["compile"] = {
            "argv": list(spec.compile_argv),
            "env": spec.compile_env,
            "limits": compile_limits(spec),
            "output_head": min(COMPILE_OUTPUT_HEAD, spec.limits.stderr_bytes),
            "await_go": spec.set_run_memory,
        }
    if spec.artifacts is not None and spec.tests is None:
        stages["artifacts"] = spec.artifacts.runner_form()
    if spec.tests is not None:  # expected outputs stay on the host (see the runner's ``cases``)
        stages["head_bytes"] = spec.head_bytes
        stages["tests"] = [
            {"stdin": base64.b64encode(case.stdin).decode(), "args": list(case.args)} for case in spec.tests
        ]
    return encode_message(
        {
            **stages,
            **({"session": session} if session is not None else {}),
            "mode": spec.mode,
            "argv": list(spec.argv),
            "files": [{"path": f.path, "data": base64.b64encode(f.data).decode(), "mode": f.mode} for f in spec.files],
            "stdin": base64.b64encode(spec.stdin).decode(),
            "env": spec.env,
            "allowed_modules": list(spec.allowed_modules),
            "validated_imports": spec.validated_imports,
            "limits": runner_limits(spec),
        }
    )


def encode_message(body: dict[str, object]) -> bytes:
    """Magic, length, JSON (with the protocol version added)."""
    # ensure_ascii keeps control bytes out of the stream: Docker's attach would
    # treat a raw ctrl-p ctrl-q as its detach sequence.
    payload = json.dumps({"v": PROTOCOL_VERSION, **body}, ensure_ascii=True, separators=(",", ":")).encode()
    return MAGIC + struct.pack(">I", len(payload)) + payload


@dataclass(frozen=True)
class Frame:
    """One runner frame: ``kind`` is a value of ``FRAME_TYPES``."""

    kind: str
    payload: bytes


class DockerStreamDemuxer:
    """Splits Docker's multiplexed attach stream (tty off) into (stream id, bytes)."""

    def __init__(self) -> None:
        self._header = bytearray()
        self._stream = 0
        self._remaining = 0

    def feed(self, data: bytes) -> Iterator[tuple[int, bytes]]:
        view = memoryview(data)
        while view:
            if self._remaining == 0:
                need = DOCKER_HEADER.size - len(self._header)
                self._header += view[:need]
                view = view[need:]
                if len(self._header) < DOCKER_HEADER.size:
                    return
                self._stream, self._remaining = DOCKER_HEADER.unpack(self._header)
                self._header.clear()
                if self._stream not in (0, 1, 2):
                    raise ProtocolError(f"unknown Docker stream id {self._stream}")
                continue
            chunk = view[: self._remaining]
            view = view[len(chunk) :]
            self._remaining -= len(chunk)
            yield self._stream, bytes(chunk)


class FrameParser:
    """Incremental parser of runner frames with per-type size caps."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> Iterator[Frame]:
        self._buf += data
        while len(self._buf) >= FRAME_HEADER.size:
            kind_byte, size = FRAME_HEADER.unpack_from(self._buf)
            kind = FRAME_TYPES.get(kind_byte)
            if kind is None:
                raise ProtocolError(f"unknown frame type {kind_byte!r}")
            cap = FRAME_CAPS.get(kind, MAX_RESULT_FRAME)
            if size > cap:
                raise ProtocolError(f"{kind} frame of {size} bytes exceeds {cap}")
            end = FRAME_HEADER.size + size
            if len(self._buf) < end:
                return
            payload = bytes(self._buf[FRAME_HEADER.size : end])
            del self._buf[:end]
            yield Frame(kind, payload)

    @property
    def pending(self) -> int:
        return len(self._buf)


class FrameReader:
    """Reads runner frames from a container's raw (non-blocking) attach socket.

    ``next()`` returns the next frame, ``None`` at end of stream, and raises
    ``TimeoutError`` once ``deadline`` (a ``time.monotonic()`` value the caller
    may move) has passed. Docker's stderr stream (the runner's own diagnostics)
    is kept as a short tail in ``diag``.
    """

    DIAG_TAIL = 4096
    RECV_CHUNK = 256 << 10

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.deadline = float("inf")
        self.diag = b""
        self.received = 0
        self._demux = DockerStreamDemuxer()
        self._parser = FrameParser()
        self._pending: deque[Frame] = deque()

    async def next(self) -> Frame | None:
        loop = asyncio.get_running_loop()
        while not self._pending:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            data = await asyncio.wait_for(loop.sock_recv(self.sock, self.RECV_CHUNK), remaining)
            if not data:
                return None
            self.received += len(data)
            for stream, chunk in self._demux.feed(data):
                if stream == 1:
                    self._pending.extend(self._parser.feed(chunk))
                else:
                    self.diag = (self.diag + chunk)[-self.DIAG_TAIL :]
        return self._pending.popleft()


#: The runner's reasons for ending a session (``RunnerReport.session_end``).
SESSION_ENDS = (None, "cpu_budget", "reply", "unfreezable")


@dataclass(frozen=True)
class RunnerReport:
    """The runner's final result frame, checked field by field."""

    exit_code: int | None
    signal: int | None
    wall_ms: int
    cpu_ms: int
    peak_memory_bytes: int
    stdout_truncated: bool
    stderr_truncated: bool
    timed_out: bool
    output_limit: str | None
    cpu_limit_hit: bool
    oom_killed: bool
    session_ended: bool = False
    #: Why the runner ended the session for its own sake: "cpu_budget", "reply", "unfreezable" (see the runner).
    session_end: str | None = None
    session_cpu_ms: int = 0  # the session container's CPU since it opened
    #: A session cell past its wall limit that answered its interrupt in time: its interpreter lives on.
    interrupted: bool = False

    @classmethod
    def parse(cls, payload: bytes) -> RunnerReport:
        try:
            data = json.loads(payload)
        except (ValueError, RecursionError) as exc:
            raise ProtocolError(f"result frame is not JSON: {type(exc).__name__}") from exc
        if not isinstance(data, dict):
            raise ProtocolError("result frame is not a JSON object")

        def opt_int(name: str) -> int | None:
            value = data.get(name)
            if value is None:
                return None
            if type(value) is not int or not -(2**31) <= value < 2**31:
                raise ProtocolError(f"result field {name!r} is not a small integer")
            return value

        def count(name: str) -> int:
            value = opt_int(name)
            return max(value or 0, 0)

        def flag(name: str) -> bool:
            value = data.get(name, False)
            if type(value) is not bool:
                raise ProtocolError(f"result field {name!r} is not a boolean")
            return value

        output_limit = data.get("output_limit")
        if output_limit not in (None, "stdout", "stderr"):
            raise ProtocolError("result field 'output_limit' is invalid")
        session_end = data.get("session_end")
        if session_end not in SESSION_ENDS:
            raise ProtocolError("result field 'session_end' is invalid")
        return cls(
            exit_code=opt_int("exit_code"),
            signal=opt_int("signal"),
            wall_ms=count("wall_ms"),
            cpu_ms=count("cpu_ms"),
            peak_memory_bytes=_bounded_count(data.get("peak_memory_bytes")),
            stdout_truncated=flag("stdout_truncated"),
            stderr_truncated=flag("stderr_truncated"),
            timed_out=flag("timed_out"),
            output_limit=output_limit,
            cpu_limit_hit=flag("cpu_limit_hit"),
            oom_killed=flag("oom_killed"),
            session_ended=flag("session_ended") or session_end is not None,
            session_end=session_end,
            session_cpu_ms=count("session_cpu_ms"),
            interrupted=flag("interrupted"),
        )


def _bounded_count(value: object) -> int:
    """A non-negative integer below 2**63, or 0 for anything else."""
    if type(value) is int and 0 <= value < 2**63:
        return value
    return 0


@dataclass(frozen=True)
class CompileReport:
    """The runner's compile frame: the compiler's result fields and the head of its output."""

    report: RunnerReport
    output: bytes
    output_truncated: bool
    #: The workdir's bytes after a good compile: the copy tests mode keeps in the runner's memory.
    workdir_bytes: int = 0

    @classmethod
    def parse(cls, payload: bytes) -> CompileReport:
        data = json_object(payload, "compile")
        workdir = _bounded_count(data.get("workdir_bytes"))
        return cls(RunnerReport.parse(payload), _b64(data, "output"), _flag(data, "output_truncated"), workdir)


@dataclass(frozen=True)
class CaseReport:
    """The runner's frame for one test case: result fields, output heads, the digest of its stdout."""

    index: int
    report: RunnerReport
    stdout: bytes
    stderr: bytes
    #: sha256 (hex) of the whole stdout after ``normalise_output``: what the host compares.
    stdout_sha256: str

    @classmethod
    def parse(cls, payload: bytes) -> CaseReport:
        data = json_object(payload, "case")
        index = data.get("index")
        if type(index) is not int or index < 0:
            raise ProtocolError("case field 'index' is invalid")
        digest = data.get("stdout_sha256")
        if not isinstance(digest, str) or len(digest) != 64 or digest.strip("0123456789abcdef"):
            raise ProtocolError("case field 'stdout_sha256' is not a sha256 digest")
        return cls(index, RunnerReport.parse(payload), _b64(data, "stdout"), _b64(data, "stderr"), digest)


def normalise_output(output: bytes) -> bytes:
    """What tests mode compares of an output, the runner's ``cases.normalise`` on the host: trailing
    whitespace of every line and blank lines at the end removed."""
    lines = output.replace(b"\r\n", b"\n").split(b"\n")
    return b"\n".join(line.rstrip() for line in lines).rstrip(b"\n")


def output_digest(output: bytes) -> str:
    """sha256 (hex) of ``normalise_output(output)``: an expected output as the case frames carry theirs."""
    return hashlib.sha256(normalise_output(output)).hexdigest()


def json_object(payload: bytes, what: str) -> dict[str, object]:
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"{what} frame is not JSON: {type(exc).__name__}") from exc
    if not isinstance(data, dict):
        raise ProtocolError(f"{what} frame is not a JSON object")
    return data


def _b64(data: dict[str, object], name: str) -> bytes:
    value = data.get(name, "")
    if not isinstance(value, str):
        raise ProtocolError(f"field {name!r} is not text")
    try:
        return base64.b64decode(value, validate=True)
    except ValueError as exc:
        raise ProtocolError(f"field {name!r} is not base64") from exc


def _flag(data: dict[str, object], name: str) -> bool:
    value = data.get(name, False)
    if type(value) is not bool:
        raise ProtocolError(f"field {name!r} is not a boolean")
    return value
