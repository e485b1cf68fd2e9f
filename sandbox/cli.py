"""The ``sandbox`` command line: a thin door over ``ExecutionService``.

Settings are loaded once per command. Errors are translated in one place,
``Commands.invoke``, which every command runs inside: the error object is printed
as ``code: message`` (with findings, or as JSON under ``--json``) and the
command exits with the error's exit code; anything unexpected is
``internal_error`` (exit 70) with its traceback in the log (stderr).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import signal
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from sandbox import cli_inputs as inputs
from sandbox.cli_secrets import secrets_app
from sandbox.config import Settings
from sandbox.errors import CapacityUnavailable, RequestRejected, SandboxError, error_body, invalid_request
from sandbox.models import ExecutionRequest, ExecutionResult, Finding, Limits, Status
from sandbox.observability.logs import configure_logging, is_disconnect
from sandbox.observability.tracing import configure_tracing

log = logging.getLogger("sandbox.cli")
#: ``typer.Context.meta`` keys a command sets for the error report: its sources, the names findings
#: show for the files (the user's, not main.py), and --json.
SOURCES, NAMES, AS_JSON = "sandbox.sources", "sandbox.names", "sandbox.json"


class Commands(TyperGroup):
    """The CLI's one translation of errors into the error object and an exit code."""

    def invoke(self, ctx: Any) -> Any:  # typer's vendored click Context
        _log_to_stderr()
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):  # typer's own: usage errors, exits
            raise
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
        except Exception as exc:
            raise typer.Exit(report(exc, ctx.meta)) from None


def report(exc: Exception, meta: dict[str, Any]) -> int:
    """Print the error object for ``exc`` and return the exit code."""
    if isinstance(exc, ValidationError):
        exc = invalid_request(exc)
    if not isinstance(exc, SandboxError):
        log.error("unexpected error", exc_info=exc)
    body = error_body(exc)
    if meta.get(AS_JSON):
        typer.echo(body.model_dump_json(indent=2))
    else:
        names = meta.get(NAMES, {})
        print_findings(body.findings, meta.get(SOURCES, {}), names)
        err.print(f"[red]{body.code.value}[/]: {escape(inputs.renamed(body.message, names))}")
    return exc.exit_code if isinstance(exc, SandboxError) else 70


app = typer.Typer(help="Run untrusted code in one-shot hardened containers.", no_args_is_help=True, cls=Commands)
images_app = typer.Typer(help="Build and list the runtime images.", no_args_is_help=True)
app.add_typer(images_app, name="images")
keys_app = typer.Typer(help="Manage API keys (stored hashed; a key is shown once).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(secrets_app, name="secrets")
db_app = typer.Typer(help="The database's schema (Alembic revisions).", no_args_is_help=True)
app.add_typer(db_app, name="db")
err = Console(stderr=True, highlight=False, soft_wrap=True)
T = TypeVar("T")

#: `sandbox run` exit codes when the program did not simply exit (see README).
STATUS_EXIT_CODES = {
    Status.TIMEOUT: 124,
    Status.OUTPUT_LIMIT_EXCEEDED: 125,
    Status.MEMORY_EXCEEDED: 137,
    Status.CPU_TIME_EXCEEDED: 152,
    Status.VALIDATION_REJECTED: 2,
    Status.SYNTAX_ERROR: 2,
    Status.COMPILE_ERROR: 65,  # EX_DATAERR: the source did not compile
    Status.REJECTED: 2,
    Status.CAPACITY_UNAVAILABLE: 75,
    Status.INTERNAL_ERROR: 70,
}


def exit_code_for(result: ExecutionResult) -> int:
    """The program's own exit code when it exited; otherwise the status's code."""
    if result.status in (Status.OK, Status.RUNTIME_ERROR) and result.exit_code is not None:
        return result.exit_code
    if result.status is Status.KILLED and result.signal:
        return 128 + result.signal
    return STATUS_EXIT_CODES.get(result.status, 70)


def _log_to_stderr() -> None:
    """Every command logs to stderr in the configured format: warnings and up, unless SANDBOX_LOG_LEVEL is set."""
    try:
        settings = Settings()
    except ValidationError:
        settings = Settings.model_construct()  # defaults: the command itself reports the bad setting
    configure_logging(settings, quiet=True)


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        raise RequestRejected(f"invalid settings: {exc}") from None


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """One command's coroutine, on a fresh event loop."""
    return asyncio.run(coro)


@app.command(cls=inputs.RunCommand)
def run(
    ctx: typer.Context,
    file: Annotated[
        str | None,
        typer.Argument(metavar="FILE", show_default=False, help="Program to run; - reads it from stdin."),
    ] = None,
    code: Annotated[
        str | None, typer.Option("-c", help="Run CODE instead of a FILE (arguments after --).", show_default=False)
    ] = None,
    language: Annotated[
        str | None, typer.Option("--language", "-l", help="Language; default from extension (python for - and -c).")
    ] = None,
    stdin: Annotated[
        Path | None, typer.Option(help="File fed to the program's stdin (- : this stdin); default: empty.")
    ] = None,
    files: Annotated[
        list[str] | None,
        typer.Option(
            "--file",
            metavar="PATH[:DEST]",
            help="Local file copied into the workdir at DEST (default: its basename); repeatable.",
        ),
    ] = None,
    env: Annotated[
        list[str] | None, typer.Option("--env", metavar="NAME=VALUE", help="Program environment; repeatable.")
    ] = None,
    timeout: Annotated[float | None, typer.Option(help="Wall-clock limit, seconds.")] = None,
    memory: Annotated[int | None, typer.Option(help="Memory limit, MiB.")] = None,
    cpu: Annotated[int | None, typer.Option(help="CPU-time limit, seconds.")] = None,
    policy: Annotated[str | None, typer.Option(help="Validation policy tier (default: the server's).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result model as JSON.")] = False,
    tests: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="Tests mode: a JSON list of cases {stdin, args, expected_stdout}; compile once, run once per case.",
        ),
    ] = None,
    outputs: Annotated[
        list[str] | None,
        typer.Option("--output", "-o", metavar="GLOB", help="Also return workdir files matching GLOB; repeatable."),
    ] = None,
    save: Annotated[
        Path | None,
        typer.Option(
            "--save",
            file_okay=False,
            help="Write the artifacts (out/, figures, --output matches) under this directory.",
        ),
    ] = None,
    cache: Annotated[
        bool,
        typer.Option(
            "--cache",
            help="Answer from the result cache when the same inputs ran before: no container (deterministic "
            "programs only; kept under the state directory, or in Redis with SANDBOX_REDIS_URL).",
        ),
    ] = False,
    args: Annotated[list[str] | None, typer.Argument(help="Arguments passed to the program.")] = None,
) -> None:
    """Run one program (FILE, - for stdin, or -c CODE) in a fresh container and report how it ended.

    The program's stdin is empty unless --stdin names a file (or -, when the program is not read
    from stdin itself). With --tests, the exit code is 0 when every case passed (or ran fine, for
    cases without expected_stdout), 1 when a case printed something else, else the status's code.
    """
    from sandbox.cache import build_result_cache
    from sandbox.service import build_service

    meta = ctx.meta
    meta[AS_JSON] = as_json
    # One execution: validate in this process rather than starting worker processes.
    settings = _settings().model_copy(update={"validation_workers": 0})
    configure_tracing(settings)
    variables = inputs.parse_env(env or [])  # usage errors first, before anything is read
    program = inputs.read_program(file, code, args or [], meta.get(inputs.AFTER_DASHES, 0))
    lang = inputs.language_of(settings, program.path, language)
    main_file = lang_main(settings, lang)
    extras = inputs.read_files(files or [], main_file, settings.request_bytes)
    request = ExecutionRequest(
        language=lang,
        code=program.code,
        files=[extra.file for extra in extras],
        stdin=inputs.read_stdin_option(stdin, program),
        args=program.args,
        env=variables,
        limits=Limits(wall_time_s=timeout, memory_mb=memory, cpu_time_s=cpu),
        policy=policy,
        tests=inputs.read_tests(tests) if tests else None,
        outputs=outputs or [],
        cache=cache,
    )
    meta[SOURCES] = {main_file: request.code} | {e.file.path: e.text for e in extras if e.text is not None}
    meta[NAMES] = {main_file: program.name} | {e.file.path: e.local for e in extras}

    def stream(kind: str, chunk: bytes) -> None:
        target = sys.stdout.buffer if kind == "stdout" else sys.stderr.buffer
        target.write(chunk)
        target.flush()

    async def go() -> tuple[ExecutionResult, list[bytes | None]]:
        # The cache outlives this process: under the state directory (or in Redis, when configured).
        results = build_result_cache(settings, on_disk=True) if cache else None
        async with build_service(settings, warm=False, results=results) as service:
            execution = await service.run(request, on_output=None if as_json else stream)
            assert execution.result is not None
            return execution.result, execution.artifact_contents

    _ensure_image(settings, lang)

    result, contents = _run(go())
    saved = save_artifacts(save, result, contents) if save is not None else {}
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
    else:
        print_findings(result.findings, meta[SOURCES], meta[NAMES])
        if result.status is Status.COMPILE_ERROR:  # nothing was streamed: the compiler's output is the story
            sys.stderr.write(result.stderr)
        print_cases(result)
        colour = "green" if result.status is Status.OK else "red"
        flags = " (stdout truncated)" if result.stdout_truncated else ""
        flags += " (stderr truncated)" if result.stderr_truncated else ""
        detail = f" - {escape(inputs.renamed(result.message, meta[NAMES]))}" if result.message else ""
        detail += f" (cached: ran as {result.cached_from})" if result.cached_from else ""
        compiled = f"compile={result.compile.wall_ms}ms " if result.compile else ""
        err.print(
            f"[{colour}]{result.status.value}[/] {ending(result)}{compiled}wall={result.wall_ms}ms "
            f"cpu={result.cpu_ms}ms mem={result.peak_memory_bytes >> 20}MiB{flags}{detail}"
        )
        print_artifacts(result, saved)
    if result.summary is not None and result.status is Status.OK:
        raise typer.Exit(1 if result.summary.failed else 0)
    raise typer.Exit(exit_code_for(result))


def save_artifacts(directory: Path, result: ExecutionResult, contents: list[bytes | None]) -> dict[str, Path]:
    """Write each collected artifact under ``directory`` at its name; where each went.

    The names came from the container: they are plain relative paths (the engine checks), and each
    file is opened without following a link, so a name can only land under ``directory``.
    """
    written: dict[str, Path] = {}
    for entry, data in zip(result.artifacts, contents, strict=True):
        if data is None:
            continue
        target = directory / entry.name
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        written[entry.name] = target
    return written


def print_artifacts(result: ExecutionResult, saved: dict[str, Path]) -> None:
    """One line per artifact: name, type, size, where it was saved (or why it was skipped)."""
    for entry in result.artifacts:
        if entry.skipped is not None:
            err.print(f"artifact {escape(entry.name)}: [yellow]skipped[/] - {escape(entry.skipped)}")
            continue
        where = f" -> {escape(str(saved[entry.name]))}" if entry.name in saved else ""
        err.print(f"artifact {escape(entry.name)} ({entry.media_type}, {entry.size} bytes){where}")
    if result.artifacts and not saved:
        err.print("(use --save DIR to write the artifacts)", style="dim")


def ending(result: ExecutionResult) -> str:
    """``exit=N `` when the program exited, ``signal=N (SIGNAME) `` when a signal ended it, else nothing:
    a run cut short (a timeout, an OOM kill) may have neither, and ``exit=None`` would say nothing true."""
    if result.exit_code is not None:
        return f"exit={result.exit_code} "
    if result.signal:
        try:
            return f"signal={result.signal} ({signal.Signals(result.signal).name}) "
        except ValueError:  # a real-time signal has no name
            return f"signal={result.signal} "
    return ""


def print_cases(result: ExecutionResult) -> None:
    """Tests mode: one line per case, then the summary."""
    for case in result.tests or ():
        verdict = {True: "[green]passed[/]", False: "[red]failed[/]", None: "ran"}[case.passed]
        detail = f" - {escape(case.message)}" if case.message else ""
        err.print(f"case {case.index}: {verdict} {case.status.value} wall={case.wall_ms}ms cpu={case.cpu_ms}ms{detail}")
        if case.passed is False and case.status is Status.OK:
            err.print(f"    stdout: {escape(case.stdout[:200])!r}", markup=False)
    if result.summary is not None:
        summary = result.summary
        err.print(f"{summary.passed}/{summary.total} passed, {summary.failed} failed, {summary.unjudged} not judged")


def lang_main(settings: Settings, language: str) -> str:
    """The main file name of ``language`` (findings name it)."""
    from sandbox.engine import ImageCatalog

    return ImageCatalog(settings.images_dir, settings.image_prefix).language(language).main_file


def print_findings(findings: list[Finding], sources: dict[str, str], names: dict[str, str] | None = None) -> None:
    """Findings as ``file:line:col: action rule: message`` with the source line and a caret.

    ``names`` maps the file names the service wrote (``main.py``) to the ones the user gave
    (``myscript.py``, ``<string>``): the report points at what they can open.
    """
    for finding in findings:
        colour = "red" if finding.action == "deny" else "yellow"
        shown = (names or {}).get(finding.file, finding.file)
        err.print(
            f"{escape(shown)}:{finding.line}:{finding.col}: [{colour}]{finding.action}[/] "
            f"[bold]{finding.rule_id}[/] ({finding.source}): {escape(finding.message)}",
            markup=True,
        )
        lines = sources.get(finding.file, "").splitlines()
        if 0 < finding.line <= len(lines):
            text = lines[finding.line - 1]
            err.print(f"    {text}", markup=False)
            err.print("    " + " " * min(finding.col, len(text)) + "^", markup=False)


@app.command()
def validate(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Program to check.")],
    language: Annotated[str | None, typer.Option("--language", "-l", help="Language; default from extension.")] = None,
    policy: Annotated[str | None, typer.Option(help="Validation policy tier (default: the server's).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON.")] = False,
) -> None:
    """Run the validation pipeline only (no container); exit 2 when the code is denied."""
    from sandbox.service import build_service

    meta = ctx.meta
    meta[AS_JSON] = as_json
    settings = _settings().model_copy(update={"validation_workers": 0})
    lang = inputs.language_of(settings, file, language)
    request = ExecutionRequest(language=lang, code=inputs.read_text(file), policy=policy)
    meta[SOURCES] = {lang_main(settings, lang): request.code}
    meta[NAMES] = {lang_main(settings, lang): str(file)}

    async def go() -> Any:
        service = build_service(settings, warm=False)
        try:
            return await service.check(request)
        finally:
            await service.aclose()

    verdict = _run(go())
    if as_json:
        report_json = {
            "status": verdict.status.value,
            "allowed": verdict.allowed,
            "policy": verdict.policy,
            "policy_version": verdict.policy_version,
            "findings": [f.model_dump() for f in verdict.findings],
        }
        typer.echo(json.dumps(report_json, indent=2))
    else:
        print_findings(list(verdict.findings), meta[SOURCES], meta[NAMES])
        colour = "green" if verdict.allowed else "red"
        err.print(
            f"[{colour}]{verdict.status.value}[/] under policy {verdict.policy} v{verdict.policy_version}: "
            f"{escape(inputs.renamed(verdict.summary(), meta[NAMES]))}"
        )
    raise typer.Exit(0 if verdict.allowed else 2)


@images_app.command("build")
def images_build(
    language: Annotated[
        list[str] | None, typer.Option("--language", "-l", help="This language's image (repeatable).")
    ] = None,
    build_all: Annotated[bool, typer.Option("--all", help="Every language's image.")] = False,
    force: Annotated[bool, typer.Option(help="Rebuild even when the tag exists.")] = False,
) -> None:
    """Build the base and runtime images that are missing or out of date.

    Without --language or --all: the base and the warm-pool languages (SANDBOX_POOL_LANGUAGES);
    the other languages' images are built when first used (`sandbox run`, or a server, which
    answers 503 meanwhile).
    """
    from sandbox.engine import ImageCatalog

    settings = _settings()
    catalog = ImageCatalog(settings.images_dir, settings.image_prefix)
    if build_all and language:
        raise RequestRejected("give --all or --language, not both")
    if build_all:
        names = sorted(catalog.languages)
    else:  # canonical names, once each, in the order given; unknown ones are refused with the choices
        names = list(dict.fromkeys(catalog.language(name).name for name in language or settings.pool_languages))
    for name, tag in _build_images(settings, names, force).items():
        typer.echo(f"{name}\t{tag}")


def _build_images(settings: Settings, languages: list[str], force: bool = False) -> dict[str, str]:
    """Build the base and ``languages``' images (when missing), with progress on stderr."""
    from sandbox.engine import ImageBuilder, ImageCatalog

    def progress(line: str) -> None:
        err.print(f"[cyan]==>[/] {escape(line)}")

    catalog = ImageCatalog(settings.images_dir, settings.image_prefix)
    builder = ImageBuilder(catalog, settings.state_dir, settings.base_source, progress)
    try:
        return builder.build_all(languages, force)
    finally:
        builder.close()


def _prepare_pool_images(settings: Settings) -> None:
    """A server's start: build the warm-pool languages' missing images (the others on first use).

    An engine that does not answer is no reason not to start (the server answers 503 until it
    does, and builds on first use then); the warning says so.
    """
    from sandbox.engine import ImageCatalog, missing_images

    catalog = ImageCatalog(settings.images_dir, settings.image_prefix)
    try:
        missing = missing_images(catalog, [catalog.language(name).name for name in settings.pool_languages])
        if missing:
            err.print(f"[cyan]==>[/] building the pool languages' images first: {escape(', '.join(missing))}")
            _build_images(settings, missing)
    except CapacityUnavailable as exc:
        log.warning("the pool images could not be checked at start (%s); they are built on first use", exc.message)


def _ensure_image(settings: Settings, language: str) -> None:
    """Build ``language``'s image first when it is missing (its first use on this machine)."""
    from sandbox.engine import ImageCatalog, missing_images

    catalog = ImageCatalog(settings.images_dir, settings.image_prefix)
    name = catalog.language(language).name
    if not missing_images(catalog, [name]):
        return
    err.print(f"[cyan]==>[/] the {escape(name)} image is not built yet: building it first")
    _build_images(settings, [name])


@images_app.command("list")
def images_list() -> None:
    """Show each language, its expected tag, whether it is built and the version it has."""
    from sandbox.engine import ImageCatalog, image_statuses

    settings = _settings()
    table = Table("language", "image", "built", "size", "version", "description")
    for image in image_statuses(ImageCatalog(settings.images_dir, settings.image_prefix)):
        built = image.size_bytes is not None
        size = f"{(image.size_bytes or 0) >> 20} MiB" if built else "-"
        version = image.version or "-"
        table.add_row(image.language, image.tag, "yes" if built else "no", size, version, image.description)
    Console().print(table)


@app.command()
def doctor() -> None:
    """Check the engine, runtime, cgroup limits and images; say what to fix."""
    from sandbox.engine import run_checks

    settings = _settings()
    ok = True
    for check in run_checks(settings):
        mark = "[green]ok[/]" if check.ok else "[red]FAIL[/]"
        err.print(f"{mark:>14}  {check.name}: {escape(check.detail)}")
        if not check.ok and check.fix:
            err.print(f"                fix: {escape(check.fix)}")
        ok &= check.ok
    raise typer.Exit(0 if ok else 1)


@app.command()
def selftest(
    url: Annotated[str | None, typer.Option(help="A deployment's base URL; default: this machine's engine.")] = None,
    key: Annotated[
        str | None, typer.Option(envvar="SANDBOX_SELFTEST_KEY", help="API key for --url (tier permissive).")
    ] = None,
    runtime: Annotated[str | None, typer.Option(help="OCI runtime of the local engine (e.g. runsc).")] = None,
    only: Annotated[str | None, typer.Option(help="Only these rows or files, e.g. B01,R10.")] = None,
    corpus: Annotated[Path | None, typer.Option(file_okay=False, help="A corpus directory to run instead.")] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=8, help="Cases at once.")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Run the hostile-program corpus against this engine or a deployment; exit 0 only if every case held."""
    from sandbox.selftest.command import main

    if url is not None and runtime is not None:
        raise RequestRejected("--runtime sets the local engine's runtime; a deployment runs its own")
    settings = _settings() if runtime is None else _settings().model_copy(update={"runtime": runtime})
    names = [name for name in (only or "").split(",") if name.strip()]
    code = main(settings, url=url, key=key, only=names, corpus=corpus, concurrency=concurrency, json_output=as_json)
    raise typer.Exit(code)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Listen address (default SANDBOX_HOST, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default SANDBOX_PORT, 8080).")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Server processes; each has its own warm pool.")] = 1,
) -> None:
    """Run the REST API (uvicorn): warm pools, validation workers, SQLite under the state directory."""
    import uvicorn

    from sandbox.api.connections import server_options

    settings = _settings()
    configure_logging(settings)  # this process's; each worker's own in app_from_env (uvicorn's loggers too)
    host, port = host or settings.host, port or settings.port
    _prepare_database(settings)  # once, here: workers starting together would each migrate at once
    if not settings.redis_url:  # a scale-out replica has no engine: its workers build their images
        _prepare_pool_images(settings)  # once, here, too: each worker would build them
    if workers > 1:  # one set of figures for all workers: set before any worker imports prometheus-client
        from sandbox.observability import exposition

        metrics_dir = exposition.prepare_multiprocess(settings.state_dir / "metrics" / str(port))
        os.environ[exposition.MULTIPROC_ENV] = str(metrics_dir)
    err.print(
        f"sandbox {escape(_redacted(settings.database))} - listening on http://{host}:{port}  (docs: /docs)\n"
        f"  curl -s -H 'Authorization: Bearer <key>' -H 'Content-Type: application/json' \\\n"
        f'       -d \'{{"code": "print(42)"}}\' http://{host}:{port}/v1/executions',
        markup=False,
    )
    _allow_open_files(settings.max_connections + 256)  # the connections, and the engine, store and workers
    uvicorn.run(
        "sandbox.api.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        # uvicorn's httptools (or h11) protocol with a deadline on request heads, connection caps and a cap on
        # a head (D05, D06), its limits from the app; requests in progress are limited there too (uvicorn's
        # limit_concurrency would count half-open connections). Its loop: uvloop with httptools.
        **server_options(settings),
        # Requests still open past the grace (event streams, MCP streams) are cut so shutdown ends.
        timeout_graceful_shutdown=math.ceil(settings.shutdown_grace_s) + 5,
        log_config=None,  # uvicorn's loggers go through ours: one format
        log_level=settings.log_level,
    )


@app.command()
def worker() -> None:
    """Run a scale-out worker on this Docker host: it takes runs and sessions from the replicas over Redis
    (SANDBOX_REDIS_URL), owns this host's engine, pools, breaker and janitor, and serves /healthz, /readyz
    and /metrics on SANDBOX_WORKER_HOST:SANDBOX_WORKER_PORT. SIGTERM drains it."""
    from sandbox.api.connections import loop_factory
    from sandbox.api.worker_health import serve as serve_worker

    settings = _settings()
    if not settings.redis_url:
        raise RequestRejected("a worker takes its work from Redis: set SANDBOX_REDIS_URL (see README, Scaling out)")
    configure_logging(settings)
    _prepare_pool_images(settings)
    err.print(f"sandbox worker - Redis {escape(_redacted_redis(settings.redis_url))}", markup=False)
    with asyncio.Runner(loop_factory=loop_factory(settings)) as runner:  # uvloop, as `sandbox serve`'s
        runner.run(serve_worker(settings))


def _redacted_redis(url: str) -> str:
    """The Redis URL without its password."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _allow_open_files(wanted: int) -> None:
    """Raise this process's soft open-file limit towards ``wanted`` (up to the hard limit): past it the
    server could not accept, and every client would wait, instead of the oldest half-open connection."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def _redacted(url: str) -> str:
    from sandbox.store import redact_url

    return redact_url(url)


def _prepare_database(settings: Settings) -> None:
    """Create or migrate the schema, check that every stored secret can be unwrapped (a missing or
    wrong KEK stops the start here, with the error object, not a worker's traceback), and make the
    first API key if there is none (printed once)."""
    from sandbox.secrets import LazyKeyProvider, SecretStore
    from sandbox.store import Store

    settings.state_dir.mkdir(parents=True, exist_ok=True)
    store = Store(settings.database)
    try:
        SecretStore(store, LazyKeyProvider(settings)).verify()
        if settings.redis_url:  # replicas start together: keys are made once, by `sandbox keys create`
            if store.count_keys() == 0:
                err.print("No API key yet: create one with `sandbox keys create --name NAME`.", markup=False)
        elif store.count_keys() == 0:
            info, plaintext = store.create_key(
                "default", settings.default_policy, settings.default_key_concurrency, settings.default_key_rate_per_min
            )
            err.print(
                f"Created the first API key ({info.name}, policy {info.policy}); it is shown only once:", markup=False
            )
            typer.echo(f"  {plaintext}\n", err=True)
    finally:
        store.close()


def _store() -> tuple[Any, Settings]:
    from sandbox.store import Store

    settings = _settings()
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    return Store(settings.database), settings


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="A unique name for the key.")],
    policy: Annotated[str | None, typer.Option(help="Loosest policy tier the key may use.")] = None,
    max_concurrency: Annotated[int | None, typer.Option(min=1, help="Executions at once.")] = None,
    rate: Annotated[int | None, typer.Option(min=1, help="Executions per minute.")] = None,
    ops: Annotated[
        bool, typer.Option("--ops", help="May read the operations snapshot (GET /v1/ops, the /ops page) of every key.")
    ] = False,
) -> None:
    """Create a key and print it (once: only its hash is stored)."""
    from sandbox.validation import PolicySet

    store, settings = _store()
    tier = policy or settings.default_policy
    PolicySet(settings.policies_dir, settings.default_policy).get(tier)
    info, plaintext = store.create_key(
        name,
        tier,
        max_concurrency or settings.default_key_concurrency,
        rate or settings.default_key_rate_per_min,
        ops=ops,
    )
    permission = ", ops permission" if info.ops else ""
    err.print(f"created key {info.name} (policy {info.policy}{permission}); it is shown only once:", markup=False)
    typer.echo(plaintext)


@keys_app.command("list")
def keys_list() -> None:
    """Every key (never the secret)."""
    store, _ = _store()
    table = Table("name", "prefix", "policy", "concurrency", "rate/min", "ops", "created", "revoked")
    for key in store.list_keys():
        revoked = key.revoked_at.isoformat(timespec="seconds") if key.revoked_at else ""
        table.add_row(
            key.name,
            key.prefix + "...",
            key.policy,
            str(key.max_concurrency),
            str(key.rate_per_min),
            "yes" if key.ops else "",
            key.created_at.isoformat(timespec="seconds"),
            revoked,
        )
    Console().print(table)


@keys_app.command("revoke")
def keys_revoke(name: Annotated[str, typer.Argument(help="Name or id of the key.")]) -> None:
    """Revoke a key at once."""
    store, _ = _store()
    if not store.revoke_key(name):
        raise RequestRejected(f"no live key named {name!r}")
    err.print(f"revoked {escape(name)}")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the database (SANDBOX_DATABASE_URL) to the newest schema revision: run it once before rolling
    new replicas out (each also upgrades on start, one at a time, but then the first one to start waits)."""
    from sandbox.store import Store

    settings = _settings()
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    store = Store(settings.database)
    try:
        err.print(f"{_redacted(settings.database)} is at revision {store.revision} (the newest)", markup=False)
    finally:
        store.close()


@db_app.command("current")
def db_current() -> None:
    """Print the database's schema revision (none: not created or made before Alembic) and this code's newest."""
    from sandbox.store import schema_revisions

    settings = _settings()
    at, newest = schema_revisions(settings.database)
    typer.echo(at or "none")
    err.print(f"this version's newest revision: {newest}", markup=False)
    if at != newest:
        err.print("run `sandbox db upgrade` to bring it up to date", markup=False)


@app.command("mcp")
def mcp_stdio() -> None:
    """Serve the MCP tools over stdio (for an agent that starts this command), as the key `mcp-stdio`."""
    from sandbox.executions import ExecutionManager
    from sandbox.mcp import Door, build_mcp, local_key
    from sandbox.service import build_service
    from sandbox.sessions import SessionManager

    store, settings = _store()
    configure_logging(settings)  # to stderr: stdout carries the protocol
    configure_tracing(settings)
    key = local_key(store, settings.default_policy, settings.default_key_concurrency, settings.default_key_rate_per_min)
    _prepare_pool_images(settings)  # progress on stderr: stdout carries the protocol
    holder: dict[str, Door] = {}
    server = build_mcp(lambda: holder["door"], settings)

    async def go() -> None:
        # The end of stdin ends the server; so does SIGTERM (how clients stop it), with the same
        # cleanup: running executions killed, warm containers and sessions removed.
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        async with build_service(settings, store=store, start_without_engine=True) as service:
            executions = ExecutionManager(service)
            sessions = SessionManager(service, executions)
            sessions.start()
            holder["door"] = Door(service, store, executions, sessions, stdio_key=key)
            serving = asyncio.create_task(server.run_stdio_async(), name="mcp-stdio")
            stopping = asyncio.create_task(stop.wait(), name="sigterm")
            try:
                await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopping.cancel()
                serving.cancel()  # no new calls (the managers refuse them too while they close)
                await executions.aclose()
                await sessions.aclose()
        if stop.is_set():
            # The SDK reads stdin in a thread that nothing can interrupt: leave without waiting for it.
            sys.stdout.flush()
            os._exit(0)
        error = serving.exception() if serving.done() and not serving.cancelled() else None
        if error is not None and is_disconnect(error):
            # The client closed its end of our stdout: it is gone, which is no failure of ours.
            log.info("the MCP client went away (its end of the pipes closed); shut down")
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to flush at exit
        elif error is not None:
            raise error

    _run(go())


if __name__ == "__main__":
    app()
