"""Examples for the OpenAPI document, kept beside the API rather than in the models.

Every request and response model of the REST door gets at least one example
(``EXAMPLES``, by schema name), and the few answers without a model (health, the
event stream) get one on their media type (``MEDIA_EXAMPLES``). ``attach`` puts
them into a generated document at ``components.schemas[Name].examples`` (JSON
Schema's keyword, as OpenAPI 3.1 has it) when the app builds its schema; the
models themselves stay free of documentation data. Each example is a value the
model accepts: ``tests/unit/api/test_examples.py`` validates every one against
its model, so an example cannot drift from the schema it illustrates.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from sandbox.api.problems import Problem
from sandbox.models import (
    ExecutionRecord,
    ExecutionRequest,
    FileInput,
    Finding,
    Limits,
    SecretValue,
    SessionExecution,
    SessionFiles,
    SessionInfo,
    SessionRequest,
    TestCase,
)
from sandbox.ops import OpsSnapshot
from sandbox.responses import (
    ExecutionPage,
    LanguageInfo,
    PolicyInfo,
    SecretInfo,
    SessionList,
    ValidationReport,
)

JSON = dict[str, Any]

_FINDING: JSON = {
    "rule_id": "import.denied",
    "severity": "high",
    "action": "deny",
    "message": "import of 'subprocess' is not allowed by policy 'standard'",
    "line": 1,
    "col": 0,
    "source": "ast",
    "file": "main.py",
}
_DONE: JSON = {
    "id": "3f0c9a6e2b7d4e18a1c5f2d9b8e7a6c4",
    "state": "done",
    "status": "ok",
    "language": "python",
    "policy": "standard",
    "exit_code": 0,
    "signal": None,
    "stdout": "42\n",
    "stderr": "",
    "stdout_truncated": False,
    "stderr_truncated": False,
    "stdout_bytes": 3,
    "stderr_bytes": 0,
    "wall_ms": 9,
    "cpu_ms": 7,
    "peak_memory_bytes": 9_437_184,
    "message": "exited with code 0",
    "findings": [],
    "code_sha256": "a1ee4c4a3bb5c3b8e9c2c0e6a1c28f7bd0c5e6d3c1a2b4f5e6d7c8b9a0f1e2d3",
    "session_id": None,
    "secrets": {},
    "created_at": "2025-01-01T12:00:00Z",
    "finished_at": "2025-01-01T12:00:00.012000Z",
}
_PLOTTED: JSON = {
    **_DONE,
    "id": "5e0c3f7a9b1d4e2f8a6c0b9d7e5f3a1c",
    "stdout": "",
    "stdout_bytes": 0,
    "wall_ms": 1180,
    "cpu_ms": 1050,
    "artifacts": [
        {
            "name": "t.csv",
            "size": 4,
            "media_type": "text/csv",
            "sha256": "7e0d3c7ea1e0bb54d4e8a2e0f0d4f9b1a7c2f5d8e3b6a9c0d1e2f3a4b5c6d7e8",
        },
        {
            "name": "out/figure-1.png",
            "size": 16667,
            "media_type": "image/png",
            "sha256": "0b9d2c4e6f8a1c3e5d7f9b0a2c4e6d8f1a3c5e7b9d0f2a4c6e8b1d3f5a7c9e0b",
        },
        {"name": "out/huge.bin", "size": 40_000_000, "skipped": "over the cap of 16777216 bytes of artifacts per run"},
    ],
}
_RUNNING: JSON = {
    "id": "9b1d7e3c5a2f4c6e8d0b1a3c5e7f9d2b",
    "state": "running",
    "status": None,
    "language": "python",
    "policy": "standard",
    "code_sha256": "5d41402abc4b2a76b9719d911017c592ae2f1e3c4b5a69788796a5b4c3d2e1f0",
    "created_at": "2025-01-01T12:00:01Z",
}
_KILLED: JSON = {
    **_DONE,
    "id": "c4e6a8b0d2f4e6a8c0b2d4f6a8c0e2b4",
    "status": "killed",
    "exit_code": None,
    "signal": 9,
    "stdout": "working\n",
    "stdout_bytes": 8,
    "wall_ms": 1520,
    "message": "cancelled by the caller; the container was killed",
}

#: Schema name -> (the model, its examples). Every model a route takes or returns is here.
EXAMPLES: dict[str, tuple[type[BaseModel], list[JSON]]] = {
    "ExecutionRequest": (
        ExecutionRequest,
        [
            {"code": "print(6 * 7)"},
            {
                "language": "python",
                "code": "import sys\nprint(open('data.txt').read().upper(), sys.argv[1:], sys.stdin.read())",
                "files": [{"path": "data.txt", "content": "hello"}],
                "stdin": "from stdin",
                "args": ["--fast"],
                "limits": {"wall_time_s": 5, "memory_mb": 128},
                "env": {"MODE": "demo"},
                "secrets": ["API_TOKEN"],
            },
            {
                "code": "import matplotlib.pyplot as plt\nplt.plot([3, 1, 2])\nopen('t.csv', 'w').write('a\\n1\\n')",
                "outputs": ["*.csv"],
            },
            {
                "language": "c",
                "code": '#include <stdio.h>\nint main(void){int a,b;scanf("%d %d",&a,&b);printf("%d\\n",a+b);}',
                "tests": [{"stdin": "1 2", "expected_stdout": "3"}, {"stdin": "40 2", "expected_stdout": "42"}],
            },
        ],
    ),
    "ExecutionRecord": (ExecutionRecord, [_DONE, _PLOTTED, _RUNNING, _KILLED]),
    "ExecutionPage": (ExecutionPage, [{"items": [_RUNNING, _DONE], "total": 2, "limit": 50, "offset": 0}]),
    "ValidationReport": (
        ValidationReport,
        [
            {"allowed": True, "status": "ok", "policy": "standard", "policy_version": 1, "findings": []},
            {
                "allowed": False,
                "status": "validation_rejected",
                "policy": "standard",
                "policy_version": 1,
                "findings": [_FINDING],
            },
        ],
    ),
    "LanguageInfo": (
        LanguageInfo,
        [
            {
                "name": "python",
                "aliases": ["py", "python3"],
                "main_file": "main.py",
                "description": "CPython 3",
                "extensions": [".py"],
                "compiled": False,
                "compile_command": None,
                "run_command": ["python3", "main.py"],
                "version": "Python 3.11.2",
                "packages": ["python3"],
                "built": True,
            },
            {
                "name": "c",
                "aliases": [],
                "main_file": "main.c",
                "description": "C (gcc)",
                "extensions": [".c"],
                "compiled": True,
                "compile_command": ["gcc", "-O2", "-o", "main", "main.c", "-lm"],
                "run_command": ["./main"],
                "version": "gcc (Debian 12.2.0-14) 12.2.0",
                "packages": ["gcc", "libc6-dev"],
                "built": True,
            },
        ],
    ),
    "PolicyInfo": (
        PolicyInfo,
        [
            {
                "name": "standard",
                "version": 1,
                "strictness": 1,
                "description": "No processes, no raw sockets, no ctypes; files only under the workdir.",
                "enforce": True,
            }
        ],
    ),
    "SessionRequest": (
        SessionRequest,
        [{}, {"language": "python", "limits": {"memory_mb": 512}, "idle_ttl_s": 300, "env": {"MODE": "notebook"}}],
    ),
    "SessionExecution": (
        SessionExecution,
        [{"code": "x = 41"}, {"code": "print(x + 1)", "limits": {"wall_time_s": 2}}],
    ),
    "SessionInfo": (
        SessionInfo,
        [
            {
                "id": "5e8f1a2b3c4d4e5f6a7b8c9d0e1f2a3b",
                "language": "python",
                "policy": "standard",
                "state": "open",
                "created_at": "2025-01-01T12:00:00Z",
                "last_used_at": "2025-01-01T12:03:00Z",
                "expires_at": "2025-01-01T13:00:00Z",
                "idle_ttl_s": 600,
                "executions": 3,
                "closed_reason": "",
            }
        ],
    ),
    "SessionList": (SessionList, [{"items": []}]),
    "SessionFiles": (
        SessionFiles,
        [
            {
                "items": [
                    {"path": "data", "type": "dir", "size": 60},
                    {"path": "data/input.csv", "type": "file", "size": 8},
                    {"path": "out", "type": "dir", "size": 60},
                    {"path": "out/figure-1.png", "type": "file", "size": 18234},
                ],
                "truncated": False,
            }
        ],
    ),
    "SecretValue": (SecretValue, [{"value": "s3cr3t-t0ken-value"}]),
    "SecretInfo": (
        SecretInfo,
        [
            {
                "name": "API_TOKEN",
                "version": 2,
                "created_at": "2025-01-01T12:00:00Z",
                "updated_at": "2025-01-02T08:30:00Z",
            }
        ],
    ),
    "Problem": (
        Problem,
        [
            {
                "type": "urn:sandbox:problem:rejected",
                "title": "Bad request",
                "status": 400,
                "detail": "wall_time_s=90 exceeds the server maximum 60",
                "code": "rejected",
                "message": "wall_time_s=90 exceeds the server maximum 60",
                "findings": [],
            },
            {
                "type": "urn:sandbox:problem:validation_rejected",
                "title": "Unprocessable request",
                "status": 422,
                "detail": "denied by policy 'standard': import of 'subprocess' is not allowed",
                "code": "validation_rejected",
                "message": "denied by policy 'standard': import of 'subprocess' is not allowed",
                "findings": [_FINDING],
            },
            {
                "type": "urn:sandbox:problem:rejected",
                "title": "Forbidden",
                "status": 403,
                "detail": "the API key 'ci' lacks the ops permission that GET /v1/ops needs; an operator creates "
                "a key with it: `sandbox keys create --name NAME --ops`",
                "code": "rejected",
                "message": "the API key 'ci' lacks the ops permission that GET /v1/ops needs; an operator creates "
                "a key with it: `sandbox keys create --name NAME --ops`",
                "findings": [],
            },
        ],
    ),
    "OpsSnapshot": (
        OpsSnapshot,
        [
            {
                "generated_at": "2025-01-01T12:00:30Z",
                "version": "0.1.0",
                "instance": "sandbox-host:4242",
                "engine": {"status": "ok", "runtime": "runc", "breaker": "closed", "ready": True},
                "pools": [
                    {
                        "name": "sandbox-python:3f2a9c1e5b7d/256m",
                        "language": "python",
                        "ready": 2,
                        "target": 4,
                        "minimum": 2,
                        "maximum": 12,
                        "hit_ratio": 0.95,
                        "hits": 40,
                        "misses": 3,
                        "created": 45,
                        "failures": 0,
                    }
                ],
                "running": 1,
                "sessions": {"open": 1},
                "executions": {
                    "window_minutes": 60,
                    "per_minute": [
                        {"minute": "2025-01-01T11:58:00Z", "counts": {"ok": 12, "validation_rejected": 1}},
                        {"minute": "2025-01-01T12:00:00Z", "counts": {"ok": 30, "timeout": 1}},
                    ],
                    "totals": {"ok": 42, "timeout": 1, "validation_rejected": 1},
                },
                "latency_ms": {
                    "window_minutes": 60,
                    "count": 43,
                    "end_to_end": {"p50": 21.0, "p90": 34.5, "p99": 2010.2},
                    "program_wall": {"p50": 9.0, "p90": 12.0, "p99": 2001.0},
                },
                "recent_failures": [
                    {
                        "id": "7b1e0c9d2a3f4e5d6c7b8a9f0e1d2c3b",
                        "created_at": "2025-01-01T12:00:12Z",
                        "language": "python",
                        "status": "timeout",
                        "message": "wall-clock limit of 2 s reached; killed",
                        "key": "ci",
                    }
                ],
            }
        ],
    ),
    # Parts of the requests and results, shown where they are described.
    "Limits": (Limits, [{"wall_time_s": 5, "cpu_time_s": 2, "memory_mb": 128, "stdout_bytes": 65536}]),
    "FileInput": (
        FileInput,
        [
            {"path": "data/input.csv", "content": "a,b\n1,2\n"},
            {"path": "blob.bin", "content": "AAEC", "encoding": "base64"},
        ],
    ),
    "TestCase": (TestCase, [{"stdin": "1 2", "args": [], "expected_stdout": "3"}]),
    "Finding": (Finding, [_FINDING]),
}

_SSE_EXAMPLE = (
    'id: 1\nevent: stdout\ndata: "working\\n"\n\n'
    'id: 2\nevent: stderr\ndata: "warning: slow\\n"\n\n'
    'id: 3\nevent: result\ndata: {"id": "3f0c9a6e2b7d4e18a1c5f2d9b8e7a6c4", "state": "done", '
    '"status": "ok", "stdout": "working\\n", ...}\n\n'
)
#: (path, method, status code, media type) -> an example of an answer that has no model.
MEDIA_EXAMPLES: dict[tuple[str, str, str, str], Any] = {
    ("/healthz", "get", "200", "application/json"): {"status": "ok"},
    ("/readyz", "get", "200", "application/json"): {
        "ready": True,
        "engine": "ok",
        "breaker": "closed",
        "pools": {"sandbox-python:3f2a9c1e5b7d/256m": {"ready": 4, "target": 4}},
    },
    ("/v1/executions/{execution_id}/events", "get", "200", "text/event-stream"): _SSE_EXAMPLE,
    ("/v1/executions/{execution_id}/artifacts/{name}", "get", "200", "application/json"): {
        "name": "out/figure-1.png",
        "size": 4,
        "media_type": "image/png",
        "sha256": "1f4a7e8fc1bb1a5ad1a4bfc3c3b1c2a4e6f0a3f5c6e8b0d2e4f6a8c0b2d4e6f8",
        "skipped": None,
        "content_base64": "iVBORw==",
    },
}


def attach(schema: JSON) -> JSON:
    """Put the examples into a generated OpenAPI document (in place; returned for convenience).

    A schema FastAPI split into ``Name-Input``/``Name-Output`` gets the examples of ``Name``.
    """
    for name, component in schema.get("components", {}).get("schemas", {}).items():
        found = EXAMPLES.get(name.removesuffix("-Input").removesuffix("-Output"))
        if found is not None:
            component["examples"] = found[1]
    paths = schema.get("paths", {})
    for (path, method, code, media), example in MEDIA_EXAMPLES.items():
        content = paths.get(path, {}).get(method, {}).get("responses", {}).get(code, {}).get("content", {})
        if media in content:
            content[media]["example"] = example
    return schema
