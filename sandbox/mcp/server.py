"""The MCP server: ``execute`` and friends for agents, built with the SDK's ``MCPServer``.

Every tool calls the same managers as REST (``ExecutionManager``,
``SessionManager``), so admission, policy ceilings, validation, limits and
records are the same. The server speaks both protocol eras on every transport:
2026-07-28 (``server/discover``, no session) and the ``initialize`` handshake of
2024-11-05 to 2025-11-25. Refusals and our failures come back as tool errors
(``SandboxMCP.call_tool`` translates every tool's exceptions, in this one place);
results, errors and files become content in ``content.py``.
"""

import asyncio
import base64
import binascii
from collections.abc import Callable
from importlib.metadata import version
from typing import Annotated, Any, Literal

import anyio
from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.types import CallToolResult, InputRequiredResult
from pydantic import BaseModel, Field

from sandbox.config import Settings
from sandbox.errors import NotFound, RequestRejected, SandboxError
from sandbox.mcp.content import ARTIFACT_URI, execution_result, file_content, tool_error
from sandbox.mcp.door import Ctx, Door, caller, info
from sandbox.mcp.schema import ANNOTATIONS, Choices
from sandbox.models import (
    MAX_ENV,
    MAX_ENV_BYTES,
    Caller,
    ExecutionRecord,
    ExecutionRequest,
    FileInput,
    Finding,
    Limits,
    SessionExecution,
    SessionFiles,
    SessionInfo,
    SessionRequest,
    TestCase,
)
from sandbox.service import Execution

NAME = "sandbox"


class ValidationReport(BaseModel):
    """What ``validate`` answers: whether the code would be allowed, and why not."""

    allowed: bool = Field(description="Whether the code would run under this policy.")
    status: str = Field(description="ok, validation_rejected or syntax_error.")
    policy: str = Field(description="The policy the code was checked against.")
    findings: list[Finding] = Field(description="What the rules found: rule id, line, column and why.")


class SandboxInfo(BaseModel):
    """What ``sandbox_info`` answers."""

    languages: list[dict[str, Any]] = Field(description="Each language: runtime version, files, commands.")
    policies: list[dict[str, Any]] = Field(description="Validation policies, loosest first.")


class SandboxMCP(MCPServer):
    """``MCPServer`` whose tool errors are the error object alone: the one translation of this door."""

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        try:
            result: CallToolResult | InputRequiredResult = await super().call_tool(name, arguments, context)
        except ToolError as exc:  # the SDK wraps whatever a tool raised; the cause is the real error
            return tool_error(exc.__cause__ if exc.__cause__ is not None else exc)
        return result


def instructions(choices: Choices) -> str:
    """What the model is told once: what the sandbox has, its limits, and how to read a result."""
    s = choices.settings
    return f"""\
Runs code in a fresh, isolated Linux container per call (sessions keep one container).
Languages: {", ".join(choices.languages)} (`sandbox_info` lists each one's runtime version, main file, \
compile and run commands). Python has numpy, pandas and matplotlib (figures left open or shown come back as images); \
other languages have their standard libraries only. A language's first use on a server may answer \
capacity_unavailable while its image is built: retry after the time it gives. No network at all. \
No package installs. The working directory is a small writable tmpfs; the rest of the filesystem is read-only. \
Files written under out/ (and those matching `outputs` globs) come back with the result as artifacts.
Default limits: {s.wall_time_s:g} s wall time, {s.cpu_time_s} s CPU, {s.memory_mb} MiB memory, \
{s.stdout_bytes >> 20} MiB of stdout and of stderr (server maxima: {s.max_wall_time_s:g} s, {s.max_cpu_time_s} s, \
{s.max_memory_mb} MiB, {s.max_stdout_bytes >> 20} MiB).
Code is validated first: process creation, native code, deserialisation, dynamic code (exec/eval) and \
introspection tricks are refused with findings that say where and why.
Reading a result: `status` is one of ok, runtime_error (non-zero exit: read stderr), compile_error, timeout, \
cpu_time_exceeded, memory_exceeded, output_limit_exceeded (stdout/stderr_truncated tell which), killed. \
A refusal is a tool error whose text is {{"status", "message", "findings"}}: status validation_rejected or \
syntax_error (see findings: line, col, message), rejected (fix the request), capacity_unavailable (retry later) \
or internal_error."""


def build_mcp(door: Callable[[], Door], settings: Settings) -> SandboxMCP:
    """The MCP server; ``door()`` returns the managers once the host has started them.

    The schemas are built from ``settings`` now (languages of its image folder, policies of
    its policy folder, its limits), before any door exists.
    """
    choices = Choices.of(settings)
    server = SandboxMCP(
        NAME,
        title="Sandboxed code execution",
        description="Runs untrusted code in one-shot hardened containers.",
        instructions=instructions(choices),
        version=version("sandbox"),
        log_level="WARNING",
    )
    # Schemas made now, from settings: Annotated metadata (the validated types stay plain).
    language_field, policy_schema = choices.language(), choices.policy()
    run_limits = choices.limits("Null or omitted: every default.")
    cell_limits = choices.limits(
        "Per call, only the wall time, CPU time and output caps apply (memory, processes and the workdir are "
        "fixed when the session opens); null: the session's own."
    )
    open_limits = choices.limits("The session's container limits, and the default of each call.")
    Code = Annotated[str, Field(description="The program: the text of the language's main file.")]
    SessionId = Annotated[str, Field(description="The id session_create returned.")]
    Env = Annotated[
        dict[str, str] | None,
        Field(
            description=f"Plain (non-secret) environment variables for the program; at most {MAX_ENV}, "
            f"{MAX_ENV_BYTES // 1024} KiB in all."
        ),
    ]
    Outputs = Annotated[
        list[str] | None,
        Field(
            description="Globs of workdir files to return besides everything under out/ (e.g. `*.csv`, "
            f"`results/**`). Figures (matplotlib) and out/ files come back anyway: images as images, small text "
            f"files embedded, others as resource links; at most {settings.artifacts_max_files} files and "
            f"{settings.artifacts_max_bytes >> 20} MiB a run.",
            max_length=32,
        ),
    ]
    Secrets = Annotated[
        list[str] | None,
        Field(
            description="Names of secrets stored for your API key (set over REST or the CLI; values are never "
            "shown). Each becomes an environment variable of the same name and is redacted from the output."
        ),
    ]

    async def follow(current: Door, execution: Execution, who: Caller, ctx: Ctx) -> CallToolResult:
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
                await current.executions.cancel(execution.id, who)  # the container goes with it
            raise
        if execution.error is not None:  # admitted, but it could not run: an error, translated as refusals are
            raise execution.error
        if execution.view.artifacts:  # previews of large images take a moment of CPU: off the event loop
            return await asyncio.to_thread(execution_result, execution.view, execution.artifact_contents)
        return execution_result(execution.view)

    @server.tool(
        annotations=ANNOTATIONS["execute"],
        description=(
            "Run a program once in a fresh sandbox (no network) and return its output and status. "
            "stdout/stderr are also streamed as progress notifications while it runs; cancelling the call "
            "kills the program. Compiled languages compile first (status compile_error with the compiler's "
            "output in stderr). `tests`: the program is compiled once and run once per case, and the result "
            "has `tests` (per case: status, passed, stdout/stderr heads) and a `summary`. A program's own "
            "failure (non-zero exit, timeout, memory) is a result with that status, not a tool error."
        ),
    )
    async def execute(
        code: Code,
        ctx: Ctx,
        language: Annotated[str, language_field] = "python",
        stdin: Annotated[str, Field(description="Text the program reads on stdin.")] = "",
        files: Annotated[
            list[FileInput] | None,
            Field(description="Extra files written into the working directory first (path + content, utf8/base64)."),
        ] = None,
        args: Annotated[list[str] | None, Field(description="Command-line arguments (sys.argv[1:]).")] = None,
        limits: Annotated[Limits | None, run_limits] = None,
        policy: Annotated[str | None, policy_schema] = None,
        env: Env = None,
        secrets: Secrets = None,
        tests: Annotated[
            list[TestCase] | None,
            Field(description=f"Tests mode: up to {settings.max_tests} cases {{stdin, args, expected_stdout}}."),
        ] = None,
        outputs: Outputs = None,
        cache: Annotated[
            bool,
            Field(
                description="Return the stored result if this key already ran exactly these inputs (no container; "
                "the result says `cached` and `cached_from`). Only for deterministic programs; not with secrets."
            ),
        ] = False,
    ) -> Annotated[CallToolResult, ExecutionRecord]:
        current, who = caller(door, ctx)
        request = ExecutionRequest(
            cache=cache,
            outputs=outputs or [],
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

    @server.tool(
        annotations=ANNOTATIONS["validate"],
        description="Validate code without running it: whether it would be allowed, and the findings.",
    )
    async def validate(
        code: Code,
        ctx: Ctx,
        language: Annotated[str, language_field] = "python",
        policy: Annotated[str | None, policy_schema] = None,
    ) -> ValidationReport:
        current, who = caller(door, ctx)
        verdict = await current.service.check(ExecutionRequest(language=language, code=code, policy=policy), caller=who)
        return ValidationReport(
            allowed=verdict.allowed, status=verdict.status.value, policy=verdict.policy, findings=list(verdict.findings)
        )

    @server.tool(
        annotations=ANNOTATIONS["session_create"],
        description=(
            "Open a stateful Python session (like a notebook): variables, imports and files persist between "
            "session_execute calls. It closes after its idle TTL without a call, at its maximum lifetime "
            f"({settings.session_max_lifetime_s:g} s), with session_close, or when a call times out or crashes "
            f"the interpreter. At most {settings.max_sessions_per_key} open sessions per API key."
        ),
    )
    async def session_create(
        ctx: Ctx,
        limits: Annotated[Limits | None, open_limits] = None,
        policy: Annotated[str | None, policy_schema] = None,
        idle_ttl_s: Annotated[
            float | None,
            Field(
                description=f"Close after this many seconds without a call; default {settings.session_idle_ttl_s:g}, "
                f"maximum {settings.max_session_idle_ttl_s:g}.",
                json_schema_extra={"maximum": settings.max_session_idle_ttl_s},
            ),
        ] = None,
        env: Env = None,
        secrets: Secrets = None,
    ) -> SessionInfo:
        current, who = caller(door, ctx)
        body = SessionRequest(
            limits=limits or Limits(), policy=policy, idle_ttl_s=idle_ttl_s, env=env or {}, secrets=secrets or []
        )
        return await current.sessions.create(body, who)

    @server.tool(
        annotations=ANNOTATIONS["session_execute"],
        description=(
            "Run code in a session's interpreter; its state is kept for the next call. Output streams as "
            "progress notifications; the answer reads like execute's (output, then a status line)."
        ),
    )
    async def session_execute(
        session_id: SessionId,
        code: Code,
        ctx: Ctx,
        limits: Annotated[Limits | None, cell_limits] = None,
        outputs: Outputs = None,
    ) -> Annotated[CallToolResult, ExecutionRecord]:
        current, who = caller(door, ctx)
        cell = SessionExecution(code=code, limits=limits or Limits(), outputs=outputs or [])
        execution = await current.sessions.execute(session_id, who, cell)
        return await follow(current, execution, who, ctx)

    @server.tool(
        annotations=ANNOTATIONS["session_files_write"],
        description="Write a file into a session's working directory (replacing one of that name).",
    )
    async def session_files_write(
        session_id: SessionId,
        path: Annotated[str, Field(description="Relative path inside the session's working directory.")],
        content: Annotated[str, Field(description="The file's content, as `encoding` says.")],
        ctx: Ctx,
        encoding: Annotated[
            Literal["utf8", "base64"], Field(description="utf8: content is the text; base64: content is the bytes.")
        ] = "utf8",
    ) -> str:
        current, who = caller(door, ctx)
        data = _decode(content, encoding)
        await current.sessions.put_file(session_id, who, path, data)
        return f"wrote {len(data)} bytes to {path}"

    @server.tool(
        annotations=ANNOTATIONS["session_files_read"],
        description=(
            "Read a file from a session's working directory (symlinks are refused). A UTF-8 file comes back "
            "as its text; any other as an embedded binary resource (base64 blob with a MIME type)."
        ),
    )
    async def session_files_read(
        session_id: SessionId,
        path: Annotated[str, Field(description="Relative path inside the session's working directory.")],
        ctx: Ctx,
    ) -> CallToolResult:
        current, who = caller(door, ctx)
        return file_content(session_id, path, await current.sessions.get_file(session_id, who, path))

    @server.tool(
        annotations=ANNOTATIONS["session_files_list"],
        description=(
            "List a session's working directory: each entry's path, type (file, dir, link, other) and size, "
            "directory by directory in name order (links are listed, never followed; at most 1000 entries)."
        ),
    )
    async def session_files_list(session_id: SessionId, ctx: Ctx) -> SessionFiles:
        current, who = caller(door, ctx)
        return await current.sessions.list_files(session_id, who)

    @server.resource(
        ARTIFACT_URI,
        name="artifact",
        title="A run's artifact",
        description="A file a run left for the caller (under out/, a figure, an `outputs` match): the bytes behind "
        "an execution result's resource links. Only the API key that ran it can read it; kept for "
        f"{settings.artifacts_retention_h:g} h.",
        mime_type="application/octet-stream",
    )
    async def artifact(execution_id: str, name: str, ctx: Ctx) -> bytes:
        try:
            current, who = caller(door, ctx)
            _, data = await current.executions.artifact(execution_id, who, name)
        except NotFound as exc:  # the SDK answers a resource error as a JSON-RPC error with this message
            raise ResourceNotFoundError(exc.message) from None
        except SandboxError as exc:
            raise ResourceError(exc.message) from None
        return data

    @server.tool(annotations=ANNOTATIONS["session_close"], description="Close a session and remove its container.")
    async def session_close(session_id: SessionId, ctx: Ctx) -> str:
        current, who = caller(door, ctx)
        await current.sessions.delete(session_id, who)
        return f"session {session_id} closed"

    @server.tool(
        annotations=ANNOTATIONS["sandbox_info"],
        description="What the sandbox offers: languages (with their runtimes) and validation policies.",
    )
    async def sandbox_info(ctx: Ctx) -> SandboxInfo:
        current, _ = caller(door, ctx)
        return SandboxInfo.model_validate(await info(current.service))

    @server.resource("sandbox://info", description="Languages and policies", mime_type="application/json")
    async def info_resource() -> str:
        return SandboxInfo.model_validate(await info(door().service)).model_dump_json(indent=2)

    return server


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
