"""Request, limits and result types shared by every door (CLI, REST, MCP).

Requests forbid unknown fields on purpose: there is no ``network`` knob, and a
caller who sends one is told so instead of being silently ignored.
"""

from __future__ import annotations

import base64
import binascii
import enum
import posixpath
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator


class Status(enum.StrEnum):
    """The one status vocabulary across languages and doors."""

    OK = "ok"  # exit code 0
    RUNTIME_ERROR = "runtime_error"  # non-zero exit code
    TIMEOUT = "timeout"  # wall-clock limit reached; killed
    CPU_TIME_EXCEEDED = "cpu_time_exceeded"  # RLIMIT_CPU reached
    MEMORY_EXCEEDED = "memory_exceeded"  # OOM-killed at the memory limit
    OUTPUT_LIMIT_EXCEEDED = "output_limit_exceeded"  # a stream hit its byte cap; killed
    KILLED = "killed"  # ended by another signal
    VALIDATION_REJECTED = "validation_rejected"  # the validation pipeline denied the code
    SYNTAX_ERROR = "syntax_error"  # the code does not parse
    COMPILE_ERROR = "compile_error"  # the compiler failed (its output in stderr, its exit code kept)
    REJECTED = "rejected"  # bad request, or limits over the server maximum
    CAPACITY_UNAVAILABLE = "capacity_unavailable"  # no container, breaker open, queue full
    INTERNAL_ERROR = "internal_error"  # our failure, not the program's


class _Strict(BaseModel):
    """A request model: unknown fields are errors, and every text is valid Unicode.

    JSON can carry a lone surrogate (``"\\ud800"``) that no UTF-8 encoder accepts;
    refused here, once, for every text field of every request (code, stdin, args,
    file names and contents, policy and language names).
    """

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _encodable(cls, value: object, info: ValidationInfo) -> object:
        for text in _texts(value):
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise ValueError(
                    f"{info.field_name} is not valid Unicode text: a lone surrogate at position {exc.start}"
                ) from None
        return value


def _texts(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


class Limits(_Strict):
    """Limits a request may ask for; each one may lower, never exceed, the server maximum."""

    wall_time_s: float | None = Field(None, gt=0, description="Wall-clock limit in seconds.")
    cpu_time_s: int | None = Field(None, gt=0, description="CPU-time limit in seconds (RLIMIT_CPU).")
    memory_mb: int | None = Field(None, gt=0, description="Memory limit in MiB; no swap.")
    processes: int | None = Field(None, gt=0, description="Maximum processes and threads.")
    workdir_mb: int | None = Field(None, gt=0, description="Size of the writable workdir and /tmp, MiB.")
    stdout_bytes: int | None = Field(None, gt=0, description="Byte cap on stdout; the program is killed past it.")
    stderr_bytes: int | None = Field(None, gt=0, description="Byte cap on stderr; the program is killed past it.")
    compile_wall_time_s: float | None = Field(None, gt=0, description="Wall-clock limit of the compile, seconds.")
    compile_cpu_time_s: int | None = Field(None, gt=0, description="CPU-time limit of the compile, seconds.")
    compile_memory_mb: int | None = Field(None, gt=0, description="Memory limit of the compile, MiB.")


class EffectiveLimits(_Strict):
    """Limits after defaults are filled in and maxima checked: what a run gets."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    wall_time_s: float
    cpu_time_s: int
    memory_mb: int
    processes: int
    workdir_mb: int
    stdout_bytes: int
    stderr_bytes: int
    compile_wall_time_s: float
    compile_cpu_time_s: int
    compile_memory_mb: int


class TestCase(_Strict):
    """One case of tests mode: the program's stdin and extra arguments, and what it should print."""

    __test__ = False  # not a pytest class

    stdin: str = Field("", max_length=32 << 20, description="The case's stdin (UTF-8).")
    args: list[str] = Field(default_factory=list, max_length=256, description="Arguments after the run command's.")
    expected_stdout: str | None = Field(
        None,
        max_length=32 << 20,
        description="What stdout should be; compared after removing trailing whitespace of each line and "
        "blank lines at the end. Null: the case is run, not judged.",
    )

    @field_validator("args")
    @classmethod
    def _short_args(cls, args: list[str]) -> list[str]:
        return _check_args(args)


def _check_args(args: list[str]) -> list[str]:
    for arg in args:
        if len(arg) > 4096 or "\x00" in arg:
            raise ValueError("each argument must be at most 4096 characters, without NUL")
    return args


class FileInput(_Strict):
    """An extra file written into the workdir before the program starts."""

    path: str = Field(
        ..., min_length=1, max_length=1024, description="Relative path inside the workdir (255 bytes a part)."
    )
    content: str = Field("", max_length=48 << 20, description="File content, encoded as `encoding` says.")
    encoding: Literal["utf8", "base64"] = "utf8"

    @field_validator("path")
    @classmethod
    def _relative_and_plain(cls, path: str) -> str:
        parts = path.split("/")
        if (
            "\x00" in path
            or path.startswith("/")
            or any(part in ("", ".", "..") for part in parts)
            or posixpath.normpath(path) != path
        ):
            raise ValueError(f"file path {path!r} must be relative, without '.', '..' or empty parts")
        if len(parts) > 8:
            raise ValueError(f"file path {path!r} has more than 8 parts")
        # What the kernel allows, counted as it counts: bytes (NAME_MAX per part), not characters.
        if any(len(part.encode("utf-8", "surrogatepass")) > 255 for part in parts):
            raise ValueError(f"file path {path[:64]!r}...: a part is longer than 255 bytes")
        if len(path.encode("utf-8", "surrogatepass")) > 1024:
            raise ValueError(f"file path {path[:64]!r}... is longer than 1024 bytes")
        return path

    @model_validator(mode="after")
    def _content_decodes(self) -> FileInput:
        if self.encoding == "base64":
            try:
                base64.b64decode(self.content, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ValueError(f"content of {self.path!r} is not valid base64") from exc
        return self

    def data(self) -> bytes:
        """The file's bytes."""
        if self.encoding == "base64":
            return base64.b64decode(self.content)
        return self.content.encode()


def _check_outputs(globs: list[str]) -> list[str]:
    """``outputs`` globs: relative workdir paths, without ``.``/``..`` parts or NUL."""
    for glob in globs:
        parts = glob.split("/")
        if not glob or "\x00" in glob or glob.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"output glob {glob!r} must be a relative path pattern, without '.', '..' or empty parts")
    return globs


#: Documented with ``ExecutionRequest.outputs`` and ``SessionExecution.outputs``.
OUTPUTS_DESCRIPTION = (
    "Globs of workdir-relative paths to return as artifacts besides everything under `out/` "
    "(`*` and `?` within a path part, `**` across parts, e.g. `*.csv`, `results/**`). "
    "Capped per run in count and bytes (the server's settings); files over a cap are listed as skipped."
)


class Artifact(BaseModel):
    """A file the run left for the caller (under ``out/``, a figure, or matching ``outputs``)."""

    name: str = Field(..., description="The path relative to the workdir, e.g. `out/figure-1.png`.")
    size: int = Field(..., description="Bytes (of the file as found, when skipped).")
    media_type: str = Field("application/octet-stream", description="From the name, or the bytes' signature.")
    sha256: str | None = Field(None, description="Of the bytes returned; null when skipped.")
    skipped: str | None = Field(None, description="Why it was not collected (over a cap, a link...); null if it was.")
    content_base64: str | None = Field(
        None, description="The bytes, when asked for inline (`?inline=true`) and within the inline cap."
    )


class Finding(BaseModel):
    """One thing the validation pipeline noticed, with where and why."""

    model_config = ConfigDict(frozen=True)

    rule_id: str = Field(..., description="Stable id, e.g. 'module.denied' or bandit's 'B602'.")
    severity: Literal["low", "medium", "high"] = "high"
    action: Literal["deny", "warn"] = "deny"
    message: str
    line: int = 0
    col: int = 0
    source: Literal["ast", "bandit", "restricted", "policy"] = "ast"
    file: str = Field("main.py", description="The file the finding is in.")


#: Environment variable names: what a shell accepts, bounded.
ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]{0,127}")
#: Variables that change how the loader, the interpreter or a shell starts: a program sets them for itself
#: if it wants, but a request does not set them for the runner's child before it starts.
ENV_DENIED_PREFIXES = ("LD_", "PYTHON", "DYLD_", "GLIBC_", "MALLOC_", "OPENSSL_", "MPL")
ENV_DENIED = frozenset(
    {
        "BASH_ENV",
        "ENV",
        "GCONV_PATH",
        "HOSTALIASES",
        "IFS",
        "JAVA_TOOL_OPTIONS",
        "LOCALDOMAIN",
        "NODE_OPTIONS",
        "PERL5LIB",
        "PERL5OPT",
        "PROMPT_COMMAND",
        "PS4",
        "RES_OPTIONS",
        "RUBYOPT",
        "SHELLOPTS",
        "BASHOPTS",
        "_JAVA_OPTIONS",
        "LOCPATH",
        "NLSPATH",
        "TZDIR",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "MATPLOTLIBRC",
    }
)
MAX_ENV = 64
MAX_ENV_BYTES = 32 << 10
MAX_SECRETS = 32


def check_env_name(name: str) -> str:
    """``name`` if a request may set it; ``ValueError`` saying why not."""
    if not ENV_NAME.fullmatch(name):
        raise ValueError(f"{name[:64]!r} is not a variable name (A-Z, 0-9 and _, not starting with a digit)")
    if name in ENV_DENIED or name.startswith(ENV_DENIED_PREFIXES):
        raise ValueError(f"{name} changes how programs start (loader and interpreter variables are not accepted)")
    return name


class _Environment(_Strict):
    """Plain variables and secret names for the program's environment (runs and sessions alike)."""

    env: dict[str, str] = Field(
        default_factory=dict,
        description=f"Plain (non-secret) environment variables; at most {MAX_ENV}, {MAX_ENV_BYTES // 1024} KiB in all.",
    )
    secrets: list[str] = Field(
        default_factory=list,
        max_length=MAX_SECRETS,
        description="Names of the key's secrets; each becomes an environment variable of the same name.",
    )

    @field_validator("env")
    @classmethod
    def _plain_env(cls, env: dict[str, str]) -> dict[str, str]:
        if len(env) > MAX_ENV:
            raise ValueError(f"at most {MAX_ENV} variables")
        if sum(len(k) + len(v.encode()) for k, v in env.items()) > MAX_ENV_BYTES:
            raise ValueError(f"the variables take more than {MAX_ENV_BYTES // 1024} KiB")
        for name, value in env.items():
            check_env_name(name)
            if "\x00" in value:
                raise ValueError(f"{name}: a value cannot hold NUL")
        return env

    @field_validator("secrets")
    @classmethod
    def _secret_names(cls, names: list[str]) -> list[str]:
        for name in names:
            check_env_name(name)
        if len(set(names)) != len(names):
            raise ValueError("a secret is named twice")
        return names

    @model_validator(mode="after")
    def _no_clash(self) -> _Environment:
        both = sorted(set(self.env) & set(self.secrets))
        if both:
            raise ValueError(f"{', '.join(both)}: both a plain variable and a secret")
        return self


class SecretValue(_Strict):
    """A secret's value to keep (``PUT /v1/secrets/{name}``); nothing ever returns it."""

    value: str = Field(..., min_length=8, max_length=4 << 10)


class ExecutionRequest(_Environment):
    """One program to run once."""

    language: str = Field("python", min_length=1, max_length=32)
    code: str = Field(..., max_length=32 << 20, description="Source of the main file.")
    files: list[FileInput] = Field(default_factory=list, max_length=256)
    stdin: str = Field("", max_length=32 << 20, description="Bytes fed to the program's stdin (UTF-8).")
    args: list[str] = Field(
        default_factory=list, max_length=256, description="Extra command-line arguments (4 KiB each at most)."
    )
    limits: Limits = Field(default_factory=Limits)
    tests: list[TestCase] | None = Field(
        None,
        max_length=10_000,
        description="Tests mode: compile once, run once per case (with `stdin` and `args` of the case, the "
        "request's limits each); the result's `tests` has one entry per case. The server caps the count.",
    )

    outputs: list[str] = Field(default_factory=list, max_length=32, description=OUTPUTS_DESCRIPTION)

    @field_validator("args")
    @classmethod
    def _short_args(cls, args: list[str]) -> list[str]:
        return _check_args(args)

    @field_validator("outputs")
    @classmethod
    def _plain_outputs(cls, outputs: list[str]) -> list[str]:
        return _check_outputs(outputs)

    policy: str | None = Field(None, max_length=64, description="Validation policy tier; the server default if unset.")
    cache: bool = Field(
        False,
        description="Answer from the result cache when this key already ran the same inputs (code, files, stdin, "
        "args, env, language, image, limits, tests, outputs, policy version): no container, the stored result "
        "marked `cached` with `cached_from`. Only right for deterministic programs. Not with `secrets` (422).",
    )

    @model_validator(mode="after")
    def _cache_without_secrets(self) -> ExecutionRequest:
        # Refused, not silently run uncached: the caller learns at once that the flag cannot apply. A
        # secret's value is not part of what identifies a run (it is never hashed nor kept), and the
        # output of a run that holds one must never be served again.
        if self.cache and self.secrets:
            raise ValueError(
                "cache cannot be combined with secrets: a run that receives secrets is never cached "
                "(send it without cache, or without secrets)"
            )
        return self


class ExecutionResult(BaseModel):
    """What happened when the program ran, or why it did not."""

    status: Status
    exit_code: int | None = None
    signal: int | None = None
    stdout: str = ""
    stderr: str = ""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    wall_ms: int = 0
    cpu_ms: int = 0
    peak_memory_bytes: int = 0
    message: str = Field("", description="Why the status is what it is, in one line.")
    findings: list[Finding] = Field(default_factory=list, description="Validation findings (warnings on success).")
    compile: CompileResult | None = Field(None, description="The compile stage, for a compiled language.")
    tests: list[TestCaseResult] | None = Field(None, description="Tests mode: one result per case, in order.")
    summary: TestSummary | None = Field(None, description="Tests mode: how many cases passed and failed.")
    artifacts: list[Artifact] = Field(
        default_factory=list,
        description="Files the run left under `out/` (figures included) or matching `outputs`; bytes at "
        "`GET /v1/executions/{id}/artifacts/{name}`.",
    )
    session_open: bool | None = Field(
        None,
        description="A session cell: whether its session is still open after it (false: this cell ended it, "
        "e.g. a timeout it did not stop at when interrupted); null for a one-shot run.",
    )
    cached: bool = Field(
        False, description="Answered from the result cache (`cache: true`): no container ran for this execution."
    )
    cached_from: str | None = Field(
        None,
        description="A cached result: the id of the execution that ran and produced it (the same key's); its "
        "usage figures (`wall_ms`, `cpu_ms`...) are that run's.",
    )


class CompileResult(BaseModel):
    """What the compiler did: its status in the one vocabulary, its output and what it cost."""

    status: Status
    exit_code: int | None = None
    signal: int | None = None
    output: str = Field("", description="The compiler's stdout and stderr, interleaved (its head).")
    output_truncated: bool = False
    wall_ms: int = 0
    cpu_ms: int = 0
    peak_memory_bytes: int = 0
    message: str = ""


class TestCaseResult(BaseModel):
    """One case of tests mode."""

    __test__ = False  # not a pytest class

    index: int
    status: Status
    passed: bool | None = Field(
        None, description="Ran fine (status ok) and stdout matched `expected_stdout`; null without one."
    )
    exit_code: int | None = None
    signal: int | None = None
    stdout: str = Field("", description="The head of stdout.")
    stderr: str = Field("", description="The head of stderr.")
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    wall_ms: int = 0
    cpu_ms: int = 0
    peak_memory_bytes: int = 0
    message: str = ""


class TestSummary(BaseModel):
    """Tests mode in numbers: ``passed`` + ``failed`` + ``unjudged`` = ``total`` (cases not run fail)."""

    __test__ = False  # not a pytest class

    total: int
    passed: int
    failed: int
    unjudged: int = Field(0, description="Cases that ran fine without an `expected_stdout`.")


class ExecutionRecord(ExecutionResult):
    """An execution as the API shows it: the result plus identity and timestamps.

    ``state`` is ``running`` until the result is in; ``status`` is set once it is ``done``.
    """

    status: Status | None = None  # type: ignore[assignment]
    id: str
    state: Literal["running", "done"] = "done"
    language: str
    policy: str
    code_sha256: str = ""
    session_id: str | None = Field(None, description="The session this ran in as a cell; null for a one-shot run.")
    secrets: dict[str, int] = Field(
        default_factory=dict, description="The secrets the program received: name -> version (never values)."
    )
    stdout_bytes: int = 0
    stderr_bytes: int = 0
    created_at: datetime
    finished_at: datetime | None = None


class ErrorBody(BaseModel):
    """Why a request was refused or failed: the one error object every door returns.

    REST wraps it in RFC 9457 problem details; MCP returns it as a tool error's
    text; the CLI prints it. ``code`` is a word of the status vocabulary.
    """

    code: Status
    message: str
    findings: list[Finding] = Field(default_factory=list, description="Validation findings, for denials.")


class ApiKeyInfo(BaseModel):
    """An API key without its secret: what listing keys shows."""

    id: str
    name: str
    prefix: str = Field(..., description="The first characters of the key, to recognise it.")
    policy: str = Field(..., description="The loosest policy tier this key may use.")
    max_concurrency: int
    rate_per_min: int
    created_at: datetime
    revoked_at: datetime | None = None
    ops: bool = Field(False, description="May read the operations snapshot (`GET /v1/ops`) of every key's activity.")


class SessionRequest(_Environment):
    """Open a session: a dedicated interpreter whose state persists between executions."""

    language: str = Field("python", min_length=1, max_length=32)
    limits: Limits = Field(default_factory=Limits, description="Container limits, and the default per call.")
    policy: str | None = Field(None, max_length=64)
    idle_ttl_s: float | None = Field(None, gt=0, description="Close after this long without a call.")
    files: list[FileInput] = Field(default_factory=list, max_length=256)


class SessionExecution(_Strict):
    """One cell to run in a session's interpreter."""

    code: str = Field(..., max_length=32 << 20)
    limits: Limits = Field(default_factory=Limits, description="Per-call wall, CPU and output limits.")
    outputs: list[str] = Field(default_factory=list, max_length=32, description=OUTPUTS_DESCRIPTION)

    @field_validator("outputs")
    @classmethod
    def _plain_outputs(cls, outputs: list[str]) -> list[str]:
        return _check_outputs(outputs)


class SessionFile(BaseModel):
    """One entry of a session's workdir."""

    path: str = Field(description="Relative to the workdir.")
    type: Literal["file", "dir", "link", "other"] = Field(description="A link is listed, never followed.")
    size: int = Field(description="Bytes (lstat's size: for a link, its target's name).")


class SessionFiles(BaseModel):
    """A session's workdir, directory by directory in name order."""

    items: list[SessionFile]
    truncated: bool = Field(description="More entries exist than were listed (at most 1000 are).")


class SessionInfo(BaseModel):
    """A session as the API shows it."""

    id: str
    language: str
    policy: str
    state: Literal["open", "closed"]
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    idle_ttl_s: float
    executions: int = 0
    closed_reason: str = ""


@dataclass(frozen=True)
class Caller:
    """Who asks: an API key with its tier ceiling and limits, or the local operator (no key, no limits)."""

    key_id: str | None = None
    policy: str | None = None  # the loosest tier this caller may use
    rate_per_min: int | None = None
    max_concurrency: int | None = None
    name: str | None = None  # the key's name, for logs (never the key itself)

    @classmethod
    def of(cls, key: ApiKeyInfo) -> Caller:
        return cls(key.id, key.policy, key.rate_per_min, key.max_concurrency, key.name)


#: The CLI's caller: the operator of this machine, without a key.
LOCAL = Caller()
