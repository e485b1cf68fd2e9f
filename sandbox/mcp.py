"""The MCP door: ``execute`` and friends for agents, over stdio and streamable HTTP.

Built with the official SDK's ``FastMCP``. Every tool calls the same managers as
REST (``ExecutionManager``, ``SessionManager``), so admission, policy ceilings,
validation, limits and records are the same. Over HTTP the tools run as the API
key of the request (the ``/mcp`` endpoint requires ``Authorization: Bearer``);
over stdio, as the local key named ``mcp-stdio``. Refusals and our failures come
back as tool errors whose text is the error object alone (``{code, message,
findings}``, as REST's problem details carry it), never as protocol errors:
``SandboxMCP.call_tool`` translates every tool's exceptions, in this one place.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

import anyio
from mcp.server.fastmcp import Context, FastMCP
from mcp.server.fastmcp.exceptions import ToolError
from mcp.server.fastmcp.server import StreamableHTTPASGIApp
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel, ValidationError
from starlette.types import Message, Receive, Scope, Send

from sandbox.engine import ImageCatalog, image_builds, language_facts
from sandbox.errors import NotFound, RequestRejected, SandboxError, Unauthenticated, error_body, invalid_request
from sandbox.executions import ExecutionManager
from sandbox.models import (
    ApiKeyInfo,
    Caller,
    ErrorBody,
    ExecutionRecord,
    ExecutionRequest,
    FileInput,
    Finding,
    Limits,
    SessionExecution,
    SessionInfo,
    SessionRequest,
    Status,
    TestCase,
)
from sandbox.observability import bind_forever, origin
from sandbox.service import Execution, ExecutionService
from sandbox.sessions import SessionManager
from sandbox.store import Store

log = logging.getLogger(__name__)
if TYPE_CHECKING:
    Ctx = Context[Any, Any, Any]
else:  # FastMCP finds the context parameter by its annotation: it must be the plain class at run time
    Ctx = Context

INSTRUCTIONS = """\
Runs code in a fresh, isolated Linux container per call (sessions keep one container).
What the sandbox has: Python 3.11 with numpy, pandas and matplotlib (Agg backend: save figures to
files), bash 5.2 with coreutils, JavaScript and TypeScript (Node.js 18), C and C++ (GCC 12), Go 1.19,
Java 17 (class Main) and Rust 1.63, standard libraries only (`sandbox_info` lists each language's
main file, compile and run commands and version). A language's first use on a server may answer
capacity_unavailable while its image is built: retry after the time it gives. No network at all.
No pip installs. The working directory is a small writable tmpfs; the rest of the filesystem is
read-only. Default limits: 10 s wall time, 5 s CPU, 256 MiB memory, 1 MiB of stdout and of stderr
(server maxima: 60 s, 30 s, 2 GiB, 16 MiB).
Code is validated first: process creation, native code, deserialisation, dynamic code (exec/eval)
and introspection tricks are refused with findings that say where and why.
Reading a result: `status` is one of ok, runtime_error (non-zero exit: read stderr), timeout,
cpu_time_exceeded, memory_exceeded, output_limit_exceeded (stdout/stderr_truncated tell which),
killed, validation_rejected / syntax_error (see `findings`: line, col, message), rejected,
capacity_unavailable (retry later), internal_error."""


@dataclass
class Door:
    """What the tools need; set by whoever hosts the MCP server (the API app or `sandbox mcp`)."""

    service: ExecutionService
    store: Store
    executions: ExecutionManager
    sessions: SessionManager
    stdio_key: ApiKeyInfo | None = None


class ValidationReport(BaseModel):
    allowed: bool
    status: str
    policy: str
    findings: list[Finding]


class FileContent(BaseModel):
    path: str
    content: str
    encoding: Literal["utf8", "base64"]


class SandboxInfo(BaseModel):
    languages: list[dict[str, Any]]
    policies: list[dict[str, Any]]


class SandboxMCP(FastMCP):
    """``FastMCP`` whose tool errors are the error object alone: the one translation of this door."""

    # Any: the SDK's lowlevel handler also takes a CallToolResult, which FastMCP's annotation omits.
    async def call_tool(self, name: str, arguments: dict[str, Any]) -> Any:
        try:
            return await super().call_tool(name, arguments)
        except ToolError as exc:  # FastMCP wraps whatever a tool raised; the cause is the real error
            return tool_error(exc.__cause__ if exc.__cause__ is not None else exc)


def tool_error(exc: BaseException) -> CallToolResult:
    """A tool error whose text is the error object as JSON; an unexpected exception says nothing more."""
    if isinstance(exc, ValidationError):
        body = error_body(invalid_request(exc))
    elif isinstance(exc, ToolError):  # raised by FastMCP itself: an unknown tool
        body = ErrorBody(code=Status.REJECTED, message=str(exc))
    else:
        if not isinstance(exc, SandboxError):
            log.error("tool failed", exc_info=exc)
        body = error_body(exc)
    return CallToolResult(content=[TextContent(type="text", text=body.model_dump_json())], isError=True)


def build_mcp(door: Callable[[], Door], catalog: ImageCatalog | None = None) -> FastMCP:
    """The MCP server; ``door()`` returns the managers once the host has started them.

    ``catalog``: the languages the ``execute`` tool's description lists (its text is fixed when
    the server is built, before any door exists); without one it says python or bash.
    """
    server = SandboxMCP("sandbox", instructions=INSTRUCTIONS, streamable_http_path="/mcp", log_level="WARNING")
    languages = _language_list(catalog) if catalog is not None else "python or bash"

    def caller(ctx: Ctx) -> tuple[Door, Caller]:
        current = door()
        request = getattr(ctx.request_context, "request", None)
        if request is not None:
            # This call runs in the MCP session's task, not the HTTP request's: take over the
            # request id and trace context of the request that carried it, for its log lines and spans.
            origin.resume(request.scope)
        key = request.scope.get("sandbox_key") if request is not None else current.stdio_key
        if key is None:
            raise Unauthenticated("no API key for this connection")
        bind_forever(key=key.name)  # this tool call's own task
        return current, Caller.of(key)

    async def follow(current: Door, execution: Execution, caller_: Caller, ctx: Ctx) -> CallToolResult:
        """Output as progress notifications, then the record; cancelling the call kills the execution."""
        progress = 0
        try:
            async for event in execution.stream():
                if event.kind in ("stdout", "stderr"):
                    progress += 1
                    await ctx.report_progress(progress, None, f"{event.kind}: {event.data}")
        except asyncio.CancelledError:
            # Shielded: the call's scope is cancelled, and the kill and the record must still happen.
            with anyio.CancelScope(shield=True):
                await current.executions.cancel(execution.id, caller_)  # the container goes with it
            raise
        if execution.error is not None:  # admitted, but it could not run: an error, translated as refusals are
            raise execution.error
        record = execution.view
        return CallToolResult(
            content=[TextContent(type="text", text=_readable(record))],
            structuredContent=record.model_dump(mode="json"),
            isError=False,
        )

    @server.tool(
        description=(
            "Run a program once in a fresh sandbox and return its output and status. "
            "stdout/stderr are also streamed as progress notifications while it runs. "
            f"Give `code` (the main file), optionally `language` ({languages}), `stdin`, extra `files` "
            "(path + content, utf8 or base64), `args`, `limits` (wall_time_s, cpu_time_s, memory_mb, ...) "
            "and a stricter `policy`. `env`: plain environment variables; `secrets`: names of secrets stored "
            "for your key (set over REST or the CLI; values are never shown), each becomes an environment "
            "variable and is redacted from the output. Cancelling the call kills the program. "
            "Compiled languages compile first (status compile_error with the compiler's output in stderr; "
            "compile limits: compile_wall_time_s, compile_cpu_time_s, compile_memory_mb). `tests`: a list of "
            "cases {stdin, args, expected_stdout}: the program is compiled once and run once per case, and "
            "the result has `tests` (per case: status, passed, stdout/stderr heads) and a `summary`."
        )
    )
    async def execute(
        code: str,
        ctx: Ctx,
        language: str = "python",
        stdin: str = "",
        files: list[FileInput] | None = None,
        args: list[str] | None = None,
        limits: Limits | None = None,
        policy: str | None = None,
        env: dict[str, str] | None = None,
        secrets: list[str] | None = None,
        tests: list[TestCase] | None = None,
    ) -> Annotated[CallToolResult, ExecutionRecord]:
        current, who = caller(ctx)
        request = ExecutionRequest(
            tests=tests,
            language=language,
            code=code,
            stdin=stdin,
            files=files or [],
            args=args or [],
            limits=limits or Limits(),
            policy=policy,
            env=env or {},
            secrets=secrets or [],
        )
        execution = await current.executions.submit(request, who)
        return await follow(current, execution, who, ctx)

    @server.tool(description="Validate code without running it: the findings and whether it would be allowed.")
    async def validate(code: str, ctx: Ctx, language: str = "python", policy: str | None = None) -> ValidationReport:
        current, who = caller(ctx)
        verdict = await current.service.check(ExecutionRequest(language=language, code=code, policy=policy), caller=who)
        return ValidationReport(
            allowed=verdict.allowed,
            status=verdict.status.value,
            policy=verdict.policy,
            findings=list(verdict.findings),
        )

    @server.tool(
        description=(
            "Open a stateful Python session (like a notebook): variables, imports and files persist between "
            "session_execute calls. It closes after idle_ttl_s without a call, at its maximum lifetime, "
            "with session_close, or when a call times out or crashes the interpreter. `env` and `secrets` "
            "(names of your stored secrets) become the interpreter's environment; outputs are redacted."
        )
    )
    async def session_create(
        ctx: Ctx,
        limits: Limits | None = None,
        policy: str | None = None,
        idle_ttl_s: float | None = None,
        env: dict[str, str] | None = None,
        secrets: list[str] | None = None,
    ) -> SessionInfo:
        current, who = caller(ctx)
        body = SessionRequest(
            limits=limits or Limits(), policy=policy, idle_ttl_s=idle_ttl_s, env=env or {}, secrets=secrets or []
        )
        return await current.sessions.create(body, who)

    @server.tool(description="Run code in a session's interpreter; its state is kept for the next call.")
    async def session_execute(
        session_id: str, code: str, ctx: Ctx, limits: Limits | None = None
    ) -> Annotated[CallToolResult, ExecutionRecord]:
        current, who = caller(ctx)
        body = SessionExecution(code=code, limits=limits or Limits())
        execution = await current.sessions.execute(session_id, who, body)
        return await follow(current, execution, who, ctx)

    @server.tool(description="Write a file into a session's working directory (utf8 text or base64 bytes).")
    async def session_files_write(
        session_id: str,
        path: str,
        content: str,
        ctx: Ctx,
        encoding: Literal["utf8", "base64"] = "utf8",
    ) -> str:
        current, who = caller(ctx)
        data = _decode(content, encoding)
        await current.sessions.put_file(session_id, who, path, data)
        return f"wrote {len(data)} bytes to {path}"

    @server.tool(description="Read a file from a session's working directory (symlinks are refused).")
    async def session_files_read(
        session_id: str, path: str, ctx: Ctx, encoding: Literal["utf8", "base64"] = "utf8"
    ) -> FileContent:
        current, who = caller(ctx)
        data = await current.sessions.get_file(session_id, who, path)
        if encoding == "utf8":
            try:
                return FileContent(path=path, content=data.decode(), encoding="utf8")
            except UnicodeDecodeError:
                encoding = "base64"
        return FileContent(path=path, content=base64.b64encode(data).decode(), encoding="base64")

    @server.tool(description="Close a session and remove its container.")
    async def session_close(session_id: str, ctx: Ctx) -> str:
        current, who = caller(ctx)
        await current.sessions.delete(session_id, who)
        return f"session {session_id} closed"

    @server.tool(description="What the sandbox offers: languages (with their runtimes) and validation policies.")
    async def sandbox_info(ctx: Ctx) -> SandboxInfo:
        current, _ = caller(ctx)
        return await _info(current.service)

    @server.resource("sandbox://info", description="Languages and policies", mime_type="application/json")
    async def info_resource() -> str:
        return (await _info(door().service)).model_dump_json(indent=2)

    return server


class McpAuth:
    """ASGI wrapper of the streamable HTTP endpoint: the same Bearer keys as REST.

    An MCP session (the ``Mcp-Session-Id`` the SDK hands out at initialisation)
    belongs to the key that opened it: a request of another key naming it is
    refused, so nobody can end or cancel someone else's calls by learning the id.
    """

    MAX_SESSIONS = 10_000  # owners remembered; the oldest are forgotten first

    def __init__(self, app: StreamableHTTPASGIApp, store: Callable[[], Store]) -> None:
        self.app = app
        self.store = store
        self._owners: OrderedDict[str, str] = OrderedDict()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers") or [])
        scheme, _, token = headers.get(b"authorization", b"").decode(errors="replace").partition(" ")
        store = self.store()
        key = await asyncio.to_thread(store.authenticate, token) if scheme.lower() == "bearer" and token else None
        if key is None:
            await asyncio.to_thread(store.audit, "auth.failed", None, path=str(scope.get("path", "/mcp")))
            await _refuse(send, 401, Unauthenticated("missing or unknown API key: send `Authorization: Bearer <key>`"))
            return
        named = headers.get(b"mcp-session-id")
        if named is not None and self._owners.get(named.decode("latin-1"), key.id) != key.id:
            await _refuse(send, 404, NotFound("no MCP session with this id for this key"))
            return

        async def remember_owner(message: Message) -> None:
            if message["type"] == "http.response.start":
                for name, value in message.get("headers") or []:
                    if name.lower() == b"mcp-session-id":
                        self._owners.setdefault(value.decode("latin-1"), key.id)
                        while len(self._owners) > self.MAX_SESSIONS:
                            self._owners.popitem(last=False)
            await send(message)

        scope["sandbox_key"] = key
        await self.app(scope, receive, remember_owner)


async def _refuse(send: Send, status: int, error: SandboxError) -> None:
    headers = [(b"content-type", b"application/json")]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": error_body(error).model_dump_json().encode()})


def _readable(record: ExecutionRecord) -> str:
    parts = []
    if record.stdout:
        parts.append(record.stdout if len(record.stdout) < 20_000 else record.stdout[:20_000] + "\n[...]")
    if record.stderr:
        parts.append("[stderr]\n" + record.stderr[-10_000:])
    for case in record.tests or ():
        verdict = {True: "passed", False: "FAILED", None: "ran"}[case.passed]
        detail = f": {case.message}" if case.message else ""
        parts.append(f"[case {case.index}: {verdict}, {case.status.value}{detail}]")
        if case.passed is False or case.status is not Status.OK:
            parts.extend(
                f"  {name}: {text[:2000]!r}"
                for name, text in (("stdout", case.stdout), ("stderr", case.stderr))
                if text
            )
    status = record.status.value if record.status else "running"
    line = f"[status: {status}, exit code {record.exit_code}, {record.wall_ms} ms"
    if record.compile is not None:
        line += f", compiled in {record.compile.wall_ms} ms"
    if record.stdout_truncated or record.stderr_truncated:
        line += ", output truncated"
    line += f"{', ' + record.message if record.message else ''}]"
    parts.append(line)
    return "\n".join(parts)


def _decode(content: str, encoding: str) -> bytes:
    if encoding == "utf8":
        try:
            return content.encode()
        except UnicodeEncodeError as exc:
            raise RequestRejected(
                f"content is not valid Unicode text: a lone surrogate at position {exc.start}"
            ) from None
    try:
        return base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise RequestRejected("content is not valid base64") from exc


def _language_list(catalog: ImageCatalog) -> str:
    """``python (py, python3; main.py), c (compiled; main.c), ...``: the names a caller may give."""
    parts = []
    for name, spec in sorted(catalog.languages.items()):
        notes = [", ".join(spec.aliases)] if spec.aliases else []
        notes += ["compiled"] if spec.compiled else []
        parts.append(f"{name} ({'; '.join([*notes, spec.main_file])})")
    return "default python; one of " + ", ".join(parts)


async def _info(service: ExecutionService) -> SandboxInfo:
    # Built images and their versions come from a cache; Docker is asked only about missing ones.
    states = await image_builds(service.settings).states()
    return SandboxInfo(
        languages=[language_facts(spec, states[name]) for name, spec in sorted(service.catalog.languages.items())],
        policies=[
            {"name": p.name, "strictness": p.strictness, "description": p.description}
            for p in sorted(service.policies.policies.values(), key=lambda p: p.strictness)
        ],
    )


def local_key(store: Store, policy: str, concurrency: int, rate: int) -> ApiKeyInfo:
    """The key stdio connections run as (created on first use, named ``mcp-stdio``)."""
    for key in store.list_keys():
        if key.name == "mcp-stdio" and key.revoked_at is None:
            return key
    info, _ = store.create_key("mcp-stdio", policy, concurrency, rate)
    return info


def http_endpoint(server: FastMCP, store: Callable[[], Store]) -> McpAuth:
    """The authenticated ASGI endpoint for ``/mcp`` (its session manager must be running)."""
    server.streamable_http_app()  # creates the session manager
    return McpAuth(StreamableHTTPASGIApp(server.session_manager), store)
