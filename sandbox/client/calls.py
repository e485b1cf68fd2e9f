"""Every request of the API as a ``Call``: method, path, body, how long its answer may take, how to parse it.

Both clients build their requests here and only send them, so a request's shape, its local
checks and the parsing of its answer exist once. Bodies are built with the server's own request
models (``sandbox.models``): a field the server would refuse is refused here first, as
``BadRequest`` without a status code, before anything is sent.
"""

from __future__ import annotations

import base64
import builtins
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypedDict, TypeVar, Unpack
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from sandbox.client.config import DEFAULT_READ_S, ClientConfig
from sandbox.client.errors import APIError, BadRequest, UnexpectedResponse, from_response
from sandbox.models import (
    ExecutionRecord,
    ExecutionRequest,
    FileInput,
    Limits,
    SecretValue,
    SessionExecution,
    SessionFiles,
    SessionInfo,
    SessionRequest,
    TestCase,
)
from sandbox.responses import ExecutionPage, LanguageInfo, PolicyInfo, SecretInfo, ValidationReport

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

#: ``files=``: a mapping of workdir path to text or bytes, or the API's ``FileInput`` entries.
Files = Mapping[str, str | bytes] | Sequence[FileInput | Mapping[str, Any]]
#: ``limits=``: the API's ``Limits`` or a mapping of its fields (``{"wall_time_s": 5}``).
LimitsArg = Limits | Mapping[str, Any]
#: ``tests=``: the API's ``TestCase`` entries or mappings of their fields.
Tests = Sequence[TestCase | Mapping[str, Any]]


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request to send, and how to read a successful answer to it."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    read_s: float = DEFAULT_READ_S  # how long its answer may take (the read timeout, unless fixed)
    params: Mapping[str, str] = field(default_factory=dict)
    json: Any = None
    content: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    tolerated: frozenset[int] = frozenset()  # error statuses that mean success here (404 on closing)

    def allowing(self, *statuses: int) -> Call[T]:
        """This call, with answers of ``statuses`` taken as success (parsed like one)."""
        return dataclasses.replace(self, tolerated=frozenset(statuses))

    def succeeded(self, response: httpx.Response) -> bool:
        """2xx (or a tolerated status). A redirect is no success: the client follows none (it would
        carry the key wherever it points), and its empty body was taken as an artifact's bytes or
        a deletion that never happened."""
        return response.is_success or response.status_code in self.tolerated

    @property
    def what(self) -> str:
        """``POST /v1/executions``: how messages name the request."""
        return f"{self.method} {self.path}"

    def request_options(self, config: ClientConfig) -> dict[str, Any]:
        """Keyword arguments of ``httpx.Client.request`` / ``.stream`` (and the async ones)."""
        options: dict[str, Any] = {
            "params": dict(self.params) or None,
            "headers": dict(self.headers) or None,
            "timeout": config.timeout(self.read_s),
        }
        if self.json is not None:
            options["json"] = self.json
        if self.content is not None:
            options["content"] = self.content
        return options


# ---------------------------------------------------------------- parsing
def model(cls: type[M]) -> Callable[[httpx.Response], M]:
    adapter = TypeAdapter(cls)
    return lambda response: _parsed(adapter, response)


def models(cls: type[M]) -> Callable[[httpx.Response], builtins.list[M]]:
    adapter = TypeAdapter(builtins.list[cls])  # type: ignore[valid-type]  # a class known at run time
    return lambda response: _parsed(adapter, response)


def _parsed(adapter: TypeAdapter[T], response: httpx.Response) -> T:
    try:
        return adapter.validate_json(response.content)
    except ValidationError as exc:
        snippet = " ".join(response.text.split())[:200]
        where = f"{response.request.method} {response.request.url.path}"
        raise UnexpectedResponse(
            f"{where}: HTTP {response.status_code} with a body that is not what the API answers there "
            f"({exc.error_count()} problem(s), first: {exc.errors()[0]['msg']}): {snippet!r}",
            status_code=response.status_code,
            request_id=response.headers.get("x-request-id"),
        ) from exc


def content(response: httpx.Response) -> bytes:
    return response.content


def nothing(response: httpx.Response) -> None:
    return None


# ---------------------------------------------------------------- building
def _checked(cls: type[M], fields: dict[str, Any]) -> M:
    """The request model for ``fields``, or ``BadRequest`` (no status: nothing was sent) naming the field."""
    try:
        return cls.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or cls.__name__
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise BadRequest(
            f"{where}: {first['msg']}{more} (refused by the client, not sent)",
            status_code=None,
            body={"errors": exc.errors(include_url=False, include_context=False, include_input=False)},
        ) from None


def _body(request: BaseModel) -> dict[str, Any]:
    """The JSON body: the fields the caller set, so the server's defaults apply to the rest."""
    return request.model_dump(mode="json", exclude_unset=True)


def _files(files: Files | None) -> builtins.list[Any]:
    if files is None:
        return []
    if isinstance(files, Mapping):
        return [_file(path, data) for path, data in files.items()]
    return [f.model_dump(mode="json", exclude_unset=True) if isinstance(f, FileInput) else dict(f) for f in files]


def _file(path: str, data: str | bytes) -> dict[str, str]:
    if isinstance(data, bytes):
        return {"path": path, "content": base64.b64encode(data).decode("ascii"), "encoding": "base64"}
    return {"path": path, "content": data}


def _limits(limits: LimitsArg) -> dict[str, Any]:
    return limits.model_dump(exclude_unset=True) if isinstance(limits, Limits) else dict(limits)


class _EnvironmentOptions(TypedDict, total=False):
    """What runs and sessions both may say (the API's ``_Environment`` plus language, limits, policy)."""

    language: str
    files: Files
    env: Mapping[str, str]
    secrets: Sequence[str]
    limits: LimitsArg
    policy: str


class RunOptions(_EnvironmentOptions, total=False):
    """What a run may say besides its code (``run``, ``start``, ``stream``, ``validate``); as the REST API."""

    tests: Tests
    stdin: str
    args: Sequence[str]
    outputs: Sequence[str]
    cache: bool


class SessionOptions(_EnvironmentOptions, total=False):
    """What opening a session may say (``session``); as the REST API."""

    idle_ttl_s: float


def _normalised(options: Mapping[str, Any]) -> dict[str, Any]:
    """The options as JSON-ready request fields (``None``: not given, the server's default)."""
    fields = {name: value for name, value in options.items() if value is not None}
    if "files" in fields:
        fields["files"] = _files(fields["files"])
    if "limits" in fields:
        fields["limits"] = _limits(fields["limits"])
    if "tests" in fields:
        fields["tests"] = [
            t.model_dump(exclude_unset=True) if isinstance(t, TestCase) else dict(t) for t in fields["tests"]
        ]
    if "env" in fields:
        fields["env"] = dict(fields["env"])
    for name in ("secrets", "args", "outputs"):
        if name in fields:
            if isinstance(fields[name], str):  # a lone string would become a list of its characters
                raise BadRequest(
                    f"{name} must be a list of strings, not a string (refused by the client, not sent)",
                    status_code=None,
                )
            fields[name] = list(fields[name])
    return fields


def execution_request(code: str, **options: Unpack[RunOptions]) -> ExecutionRequest:
    """The ``ExecutionRequest`` for ``run``, ``stream``, ``start`` and ``validate``."""
    return _checked(ExecutionRequest, {"code": code, **_normalised(options)})


def run(config: ClientConfig, request: ExecutionRequest, *, inline: bool = False) -> Call[ExecutionRecord]:
    """``POST /v1/executions``: run and wait for the record."""
    runs = len(request.tests) if request.tests else 1
    params = {"inline": "true"} if inline else {}
    return Call(
        "POST",
        "/v1/executions",
        model(ExecutionRecord),
        config.run_estimate(request.limits, runs),
        params=params,
        json=_body(request),
    )


def start(request: ExecutionRequest) -> Call[ExecutionRecord]:
    """``POST /v1/executions?wait=false``: the record at once (``state: running``), 202."""
    return Call("POST", "/v1/executions", model(ExecutionRecord), params={"wait": "false"}, json=_body(request))


def events(execution_id: str, read_s: float, headers: Mapping[str, str]) -> Call[None]:
    """``GET /v1/executions/{id}/events``: read as a stream by the clients, not parsed whole."""
    return Call("GET", f"/v1/executions/{_segment(execution_id)}/events", nothing, read_s, headers=headers)


def get(execution_id: str, *, inline: bool = False) -> Call[ExecutionRecord]:
    params = {"inline": "true"} if inline else {}
    return Call("GET", f"/v1/executions/{_segment(execution_id)}", model(ExecutionRecord), params=params)


def page(limit: int = 50, offset: int = 0) -> Call[ExecutionPage]:
    return Call("GET", "/v1/executions", model(ExecutionPage), params={"limit": str(limit), "offset": str(offset)})


def cancel(execution_id: str) -> Call[ExecutionRecord]:
    return Call("POST", f"/v1/executions/{_segment(execution_id)}/cancel", model(ExecutionRecord))


def artifact(execution_id: str, name: str) -> Call[bytes]:
    return Call("GET", f"/v1/executions/{_segment(execution_id)}/artifacts/{_path(name)}", content)


def validate(request: ExecutionRequest) -> Call[ValidationReport]:
    return Call("POST", "/v1/validate", model(ValidationReport), json=_body(request))


def languages() -> Call[builtins.list[LanguageInfo]]:
    return Call("GET", "/v1/languages", models(LanguageInfo))


def policies() -> Call[builtins.list[PolicyInfo]]:
    return Call("GET", "/v1/policies", models(PolicyInfo))


def secret_set(name: str, value: str) -> Call[SecretInfo]:
    body = _checked(SecretValue, {"value": value})
    return Call("PUT", f"/v1/secrets/{_segment(name)}", model(SecretInfo), json=_body(body))


def secret_list() -> Call[builtins.list[SecretInfo]]:
    return Call("GET", "/v1/secrets", models(SecretInfo))


def secret_delete(name: str) -> Call[None]:
    return Call("DELETE", f"/v1/secrets/{_segment(name)}", nothing)


def session_request(**options: Unpack[SessionOptions]) -> SessionRequest:
    return _checked(SessionRequest, _normalised(options))


def session_open(config: ClientConfig, request: SessionRequest) -> Call[SessionInfo]:
    # Opening starts a container (and validates the initial files): a run's margin, no program.
    return Call("POST", "/v1/sessions", model(SessionInfo), DEFAULT_READ_S + config.margin_s, json=_body(request))


def session_run(
    config: ClientConfig,
    session_id: str,
    code: str,
    *,
    limits: LimitsArg | None = None,
    outputs: Sequence[str] | None = None,
    session_limits: Limits | None = None,
) -> Call[ExecutionRecord]:
    """A cell: its wall limit, else the session's, bounds how long the answer may take."""
    request = _checked(SessionExecution, {"code": code, **_normalised({"limits": limits, "outputs": outputs})})
    cell = request.limits if request.limits.wall_time_s else session_limits
    return Call(
        "POST",
        f"/v1/sessions/{_segment(session_id)}/executions",
        model(ExecutionRecord),
        config.run_estimate(cell, compiles=False),
        json=_body(request),
    )


def session_write(session_id: str, path: str, data: bytes | str) -> Call[None]:
    body = data.encode() if isinstance(data, str) else bytes(data)
    headers = {"Content-Type": "application/octet-stream"}
    return Call(
        "PUT", f"/v1/sessions/{_segment(session_id)}/files/{_path(path)}", nothing, content=body, headers=headers
    )


def session_read(session_id: str, path: str) -> Call[bytes]:
    return Call("GET", f"/v1/sessions/{_segment(session_id)}/files/{_path(path)}", content)


def session_files(session_id: str) -> Call[SessionFiles]:
    return Call("GET", f"/v1/sessions/{_segment(session_id)}/files", model(SessionFiles))


def session_info(session_id: str) -> Call[SessionInfo]:
    return Call("GET", f"/v1/sessions/{_segment(session_id)}", model(SessionInfo))


def session_close(session_id: str) -> Call[None]:
    return Call("DELETE", f"/v1/sessions/{_segment(session_id)}", nothing)


def _segment(value: str) -> str:
    """One path segment: an id or a name cannot reach another route (``/``, ``..`` and ``?`` are escaped)."""
    if value in ("", ".", ".."):
        raise BadRequest(f"{value!r} is not an id or a name (refused by the client, not sent)", status_code=None)
    return quote(value, safe="")


def _path(value: str) -> str:
    """A workdir-relative path (session files, artifact names): its ``/`` kept, everything else escaped."""
    parts = value.split("/")
    if not value or any(part in ("", ".", "..") for part in parts):
        raise BadRequest(f"{value!r} is not a relative path (refused by the client, not sent)", status_code=None)
    return "/".join(quote(part, safe="") for part in parts)


def answer_error(response: httpx.Response, call: Call[Any]) -> APIError:
    """The exception for an error answer to ``call`` (its body already read)."""
    return from_response(response.status_code, response.headers, response.content, response.reason_phrase, call.what)
