"""What replicas and workers say to each other over Redis: run specs, outcomes and errors as JSON.

JSON, never pickle: Redis is shared infrastructure, and a value read from it must not be able
to run code in a worker. Bytes travel as base64. A run's environment (it holds the values of the
secrets the run asked for) never travels in clear: it is sealed with a fresh data key wrapped by
the service's KEK (``sandbox.secrets.crypto.seal``), bound to the job's id, so Redis, its
persistence files and anyone who reads them see ciphertext only; replicas and workers share
the KEK (``SANDBOX_SECRETS_KEK_FILE``).
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, fields, replace
from typing import Any

from sandbox import errors
from sandbox.engine import ArtifactRules, CollectedArtifact, RunFile, RunOutcome, RunSpec, TestInput
from sandbox.errors import EngineError, SandboxError
from sandbox.models import CompileResult, EffectiveLimits, SessionFiles, Status, TestCaseResult, TestSummary
from sandbox.secrets.crypto import Sealed, open_sealed, seal
from sandbox.secrets.keys import KeyProvider


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def _identity(job_id: str) -> bytes:
    return f"dispatch|{job_id}".encode()


def seal_env(env: dict[str, str], job_id: str, keys: KeyProvider) -> dict[str, str] | None:
    """``env`` sealed for one job (None when empty: nothing to hide, and no KEK is needed)."""
    if not env:
        return None
    sealed = seal(json.dumps(env), _identity(job_id), keys)
    return {
        "kek_id": sealed.kek_id,
        "wrapped_dek": b64(sealed.wrapped_dek),
        "nonce": b64(sealed.value_nonce),
        "ciphertext": b64(sealed.ciphertext),
    }


def open_env(sealed: dict[str, str] | None, job_id: str, keys: KeyProvider) -> dict[str, str]:
    if not sealed:
        return {}
    value = open_sealed(
        Sealed(sealed["kek_id"], unb64(sealed["wrapped_dek"]), unb64(sealed["nonce"]), unb64(sealed["ciphertext"])),
        _identity(job_id),
        keys,
    )
    env = json.loads(value)
    return {str(name): str(text) for name, text in env.items()}


def spec_to_wire(spec: RunSpec, job_id: str, keys: KeyProvider) -> dict[str, Any]:
    """A ``RunSpec`` as JSON-ready data, its environment sealed (see the module docstring)."""
    data: dict[str, Any] = {}
    for item in fields(spec):
        value = getattr(spec, item.name)
        if item.name == "env":
            data["env"] = seal_env(value, job_id, keys)
        elif item.name == "files":
            data["files"] = [{"path": f.path, "data": b64(f.data), "mode": f.mode} for f in value]
        elif item.name == "stdin":
            data["stdin"] = b64(value)
        elif item.name == "limits":
            data["limits"] = value.model_dump()
        elif item.name == "tests":
            data["tests"] = (
                None
                if value is None
                else [
                    {
                        "stdin": b64(case.stdin),
                        "args": list(case.args),
                        "expected_stdout": None if case.expected_stdout is None else b64(case.expected_stdout),
                    }
                    for case in value
                ]
            )
        elif item.name == "artifacts":
            data["artifacts"] = None if value is None else asdict(value)
        elif isinstance(value, tuple):
            data[item.name] = list(value)
        else:
            data[item.name] = value
    return data


def spec_from_wire(data: dict[str, Any], job_id: str, keys: KeyProvider) -> RunSpec:
    """The ``RunSpec`` of ``spec_to_wire``; anything malformed raises (the job fails, the worker goes on)."""
    tuples = {"argv", "allowed_modules", "compile_argv", "preload"}
    values: dict[str, Any] = {}
    for item in fields(RunSpec):
        if item.name not in data:
            continue
        value = data[item.name]
        if item.name == "env":
            values["env"] = open_env(value, job_id, keys)
        elif item.name == "files":
            values["files"] = tuple(RunFile(f["path"], unb64(f["data"]), int(f["mode"])) for f in value)
        elif item.name == "stdin":
            values["stdin"] = unb64(value)
        elif item.name == "limits":
            values["limits"] = EffectiveLimits.model_validate(value)
        elif item.name == "tests":
            values["tests"] = (
                None
                if value is None
                else tuple(
                    TestInput(
                        unb64(case["stdin"]),
                        tuple(case["args"]),
                        None if case["expected_stdout"] is None else unb64(case["expected_stdout"]),
                    )
                    for case in value
                )
            )
        elif item.name == "artifacts":
            values["artifacts"] = None if value is None else ArtifactRules(**{**value, "globs": tuple(value["globs"])})
        elif item.name in tuples:
            values[item.name] = tuple(value)
        elif item.name == "compile_env":
            values[item.name] = dict(value)
        else:
            values[item.name] = value
    return RunSpec(**values)


def without_env(spec: RunSpec) -> RunSpec:
    """What a session's directory entry keeps of its opening spec: no environment (its values are secrets)
    and no files or stdin (they are in the container already; later cells need its image and limits)."""
    return replace(spec, env={}, files=(), stdin=b"")


def outcome_to_wire(outcome: RunOutcome) -> dict[str, Any]:
    return {
        "status": outcome.status.value,
        "exit_code": outcome.exit_code,
        "signal": outcome.signal,
        "stdout": b64(outcome.stdout),
        "stderr": b64(outcome.stderr),
        "stdout_truncated": outcome.stdout_truncated,
        "stderr_truncated": outcome.stderr_truncated,
        "wall_ms": outcome.wall_ms,
        "cpu_ms": outcome.cpu_ms,
        "peak_memory_bytes": outcome.peak_memory_bytes,
        "message": outcome.message,
        "compile": None if outcome.compile is None else outcome.compile.model_dump(mode="json"),
        "tests": None if outcome.tests is None else [case.model_dump(mode="json") for case in outcome.tests],
        "summary": None if outcome.summary is None else outcome.summary.model_dump(mode="json"),
        "artifacts": [
            {"name": a.name, "size": a.size, "data": None if a.data is None else b64(a.data), "skipped": a.skipped}
            for a in outcome.artifacts
        ],
    }


def outcome_from_wire(data: dict[str, Any]) -> RunOutcome:
    return RunOutcome(
        status=Status(data["status"]),
        exit_code=data["exit_code"],
        signal=data["signal"],
        stdout=unb64(data["stdout"]),
        stderr=unb64(data["stderr"]),
        stdout_truncated=bool(data["stdout_truncated"]),
        stderr_truncated=bool(data["stderr_truncated"]),
        wall_ms=int(data["wall_ms"]),
        cpu_ms=int(data["cpu_ms"]),
        peak_memory_bytes=int(data["peak_memory_bytes"]),
        message=str(data["message"]),
        compile=None if data["compile"] is None else CompileResult.model_validate(data["compile"]),
        tests=None if data["tests"] is None else [TestCaseResult.model_validate(case) for case in data["tests"]],
        summary=None if data["summary"] is None else TestSummary.model_validate(data["summary"]),
        artifacts=[
            CollectedArtifact(a["name"], int(a["size"]), None if a["data"] is None else unb64(a["data"]), a["skipped"])
            for a in data["artifacts"]
        ],
    )


def files_to_wire(listing: SessionFiles) -> dict[str, Any]:
    return listing.model_dump(mode="json")


def files_from_wire(data: dict[str, Any]) -> SessionFiles:
    return SessionFiles.model_validate(data)


def error_to_wire(exc: SandboxError) -> dict[str, Any]:
    """A worker's refusal or failure, as the replica re-raises it (same class, message, Retry-After)."""
    return {"error": type(exc).__name__, "message": exc.message, "retry_after_s": getattr(exc, "retry_after_s", None)}


def error_from_wire(data: dict[str, Any]) -> SandboxError:
    """The error ``error_to_wire`` described: a ``sandbox.errors`` class by name, else ``EngineError``."""
    kind = getattr(errors, str(data.get("error", "")), None)
    cls = kind if isinstance(kind, type) and issubclass(kind, SandboxError) else EngineError
    try:
        error = cls(str(data.get("message", "")))
    except TypeError:  # a class that takes more arguments: keep the message, lose the extras
        error = EngineError(str(data.get("message", "")))
    if data.get("retry_after_s") is not None:
        error.retry_after_s = int(data["retry_after_s"])  # type: ignore[attr-defined]
    error.ended = bool(data.get("ended", False))  # type: ignore[attr-defined]  # a session call's: the session is over
    return error
