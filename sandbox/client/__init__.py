"""The Python client of the REST API: ``SandboxClient`` (blocking) and ``AsyncSandboxClient`` (asyncio).

Importable with the base install alone (httpx and pydantic): nothing here imports the server,
the engine or their dependencies. Answers are the API's own models (``sandbox.models``,
``sandbox.responses``); errors are the exceptions of ``sandbox.client.errors``. A program's own
failures (timeout, runtime error...) are not exceptions: they are the record's ``status``::

    from sandbox.client import SandboxClient

    with SandboxClient("http://127.0.0.1:8080", api_key="sk-...") as client:
        record = client.run("print(6 * 7)")
        print(record.status, record.stdout)
"""

from sandbox.client.aio import AsyncSandboxClient, AsyncSecrets, AsyncSession
from sandbox.client.calls import RunOptions, SessionOptions
from sandbox.client.errors import (
    APIError,
    AuthenticationError,
    BadRequest,
    CapacityUnavailable,
    ClientTimeout,
    ConfigurationError,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    RateLimited,
    SandboxClientError,
    ServerError,
    TransportError,
    UnexpectedResponse,
    ValidationRejected,
)
from sandbox.client.sse import OutputEvent, StreamItem
from sandbox.client.sync import SandboxClient, Secrets, Session
from sandbox.models import (
    Artifact,
    ExecutionRecord,
    FileInput,
    Finding,
    Limits,
    SessionFiles,
    SessionInfo,
    Status,
    TestCase,
)
from sandbox.responses import ExecutionPage, LanguageInfo, PolicyInfo, SecretInfo, ValidationReport

__all__ = [
    "APIError",
    "Artifact",
    "AsyncSandboxClient",
    "AsyncSecrets",
    "AsyncSession",
    "AuthenticationError",
    "BadRequest",
    "CapacityUnavailable",
    "ClientTimeout",
    "ConfigurationError",
    "ExecutionPage",
    "ExecutionRecord",
    "FileInput",
    "Finding",
    "LanguageInfo",
    "Limits",
    "NotFound",
    "OutputEvent",
    "PayloadTooLarge",
    "PermissionDenied",
    "PolicyInfo",
    "RateLimited",
    "RunOptions",
    "SandboxClient",
    "SandboxClientError",
    "SecretInfo",
    "Secrets",
    "ServerError",
    "Session",
    "SessionFiles",
    "SessionInfo",
    "SessionOptions",
    "Status",
    "StreamItem",
    "TestCase",
    "TransportError",
    "UnexpectedResponse",
    "ValidationRejected",
    "ValidationReport",
]
