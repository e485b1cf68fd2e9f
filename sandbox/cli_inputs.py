"""What ``sandbox run`` is given, read and checked before a request exists.

The program comes from exactly one of FILE, ``-`` (this process's stdin) or ``-c CODE``; extra
files from ``--file PATH[:DEST]``; variables from ``--env NAME=VALUE``. A malformed option is a
usage error (``typer.BadParameter``: exit 2, with the usage line), raised here so the message can
name the option and the local file. The rules and caps are the service's own (``FileInput``'s path
rules, ``check_env_name``, ``MAX_ENV``, ``MAX_ENV_BYTES``, ``Settings.request_bytes``): checked
early only for a better message, and checked again by the service.

Findings name the files the service wrote (``main.py``, a DEST); ``Program.name`` and
``Extra.local`` are what the user typed, which is what the CLI shows instead (the REST and MCP
finding shape is untouched: only the CLI's presentation renames).
"""

from __future__ import annotations

import base64
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError
from typer.core import TyperCommand

from sandbox.config import Settings
from sandbox.errors import PayloadTooLarge, RequestRejected
from sandbox.models import MAX_ENV, MAX_ENV_BYTES, FileInput, TestCase, check_env_name

#: What findings call a program given as ``-`` or ``-c`` (Python's own names for them).
STDIN_NAME, INLINE_NAME = "<stdin>", "<string>"
#: ``typer.Context.meta`` key: how many command-line arguments followed ``--`` (set by ``RunCommand``).
AFTER_DASHES = "sandbox.after_dashes"
#: The language of a program without a file name to tell it by: the request model's default.
DEFAULT_LANGUAGE = "python"


class RunCommand(TyperCommand):
    """``sandbox run``'s command class: notes how many arguments follow ``--``.

    Click fills positionals in order and forgets where ``--`` was, so ``-c CODE prog.py`` (two
    programs: a mistake) and ``-c CODE -- arg`` (one argument) would look the same to the command.
    """

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # typer's vendored click Context
        ctx.meta[AFTER_DASHES] = len(args) - args.index("--") - 1 if "--" in args else 0
        return super().parse_args(ctx, args)


@dataclass(frozen=True)
class Program:
    """The program to run, its arguments, and the name findings show for it."""

    code: str
    name: str  # the path as typed, <stdin> or <string>
    path: Path | None  # the local file, whose suffix tells the language; None for - and -c
    args: list[str]


def read_program(file: str | None, code: str | None, positionals: list[str], after_dashes: int) -> Program:
    """Exactly one of FILE, ``-`` and ``-c CODE``; the other positionals are the program's arguments.

    With ``-c`` every positional is an argument (as with ``python -c``), but only after ``--``: one
    before it is taken for a second program, which is refused rather than silently passed on.
    """
    if code is not None:
        given = ([file] if file is not None else []) + positionals
        if len(given) > after_dashes:
            raise typer.BadParameter(
                f"-c CODE and {given[0]!r} both name a program; give one (FILE, - or -c), "
                "and put the program's arguments after --",
                param_hint="FILE / - / -c",
            )
        return Program(code, INLINE_NAME, None, given)
    if file is None:
        raise typer.BadParameter("give the program: FILE, - (read from stdin) or -c CODE", param_hint="FILE")
    if file == "-":
        return Program(_text(sys.stdin.buffer.read(), STDIN_NAME), STDIN_NAME, None, positionals)
    path = Path(file)
    if not path.exists():
        raise typer.BadParameter(f"file {file!r} does not exist.", param_hint="'FILE'")
    if path.is_dir():
        raise typer.BadParameter(f"{file!r} is a directory.", param_hint="'FILE'")
    return Program(read_text(path), file, path, positionals)


def language_of(settings: Settings, path: Path | None, language: str | None) -> str:
    """``--language``; else the language whose ``source_suffixes`` (image.toml) name the file's suffix;
    python for a program without a file name (``-``, ``-c``), as a request without a language."""
    if language is not None:
        return language
    if path is None:
        return DEFAULT_LANGUAGE
    from sandbox.engine import ImageCatalog

    catalog = ImageCatalog(settings.images_dir, settings.image_prefix)
    for name, spec in sorted(catalog.languages.items()):
        if path.suffix.lower() in spec.source_suffixes:
            return name
    raise RequestRejected(f"cannot tell the language of {path.name}; pass --language")


def read_tests(path: Path) -> list[TestCase]:
    """``--tests``: a JSON list of cases, each checked like a request's."""
    try:
        cases = json.loads(path.read_text())
    except (UnicodeDecodeError, ValueError) as exc:
        raise RequestRejected(f"{path.name} is not a JSON file: {exc}") from None
    if not isinstance(cases, list):
        raise RequestRejected(f"{path.name} must hold a JSON list of cases {{stdin, args, expected_stdout}}")
    try:
        return [TestCase.model_validate(case) for case in cases]
    except ValidationError as exc:
        raise RequestRejected(f"{path.name}: {exc}") from None


def read_text(path: Path) -> str:
    """A program, stdin or case file as UTF-8 text (the request carries text, not bytes)."""
    return _text(path.read_bytes(), path.name)


def _text(data: bytes, name: str) -> str:
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise RequestRejected(f"{name} is not UTF-8 text") from None


def read_stdin_option(stdin: Path | None, program: Program) -> str:
    """The program's own stdin: empty by default, ``--stdin FILE``, or ``--stdin -`` (this process's stdin).

    This process's stdin can be read once: when it carries the program (``-``), it cannot also be
    the program's input.
    """
    if stdin is None:
        return ""
    if str(stdin) != "-":
        if stdin.is_dir():
            raise typer.BadParameter(f"{str(stdin)!r} is a directory.", param_hint="'--stdin'")
        try:  # not is_file(): a pipe such as <(command) is a fine stdin
            return read_text(stdin)
        except FileNotFoundError:
            raise typer.BadParameter(f"file {str(stdin)!r} does not exist.", param_hint="'--stdin'") from None
    if program.path is None and program.name == STDIN_NAME:
        raise typer.BadParameter(
            "stdin already carries the program (-); give the program's input as --stdin FILE", param_hint="'--stdin'"
        )
    return _text(sys.stdin.buffer.read(), STDIN_NAME)


@dataclass(frozen=True)
class Extra:
    """One ``--file``: the request's file, and where it came from."""

    file: FileInput
    local: str  # the local path as typed: findings in the file name it
    text: str | None  # its text when it is UTF-8 (findings quote its lines), else None


def read_files(specs: list[str], main_file: str, cap: int) -> list[Extra]:
    """``--file PATH[:DEST]`` each: the file's bytes at DEST in the workdir (default: PATH's basename).

    DEST is split off at the last ``:`` (a PATH holding a colon needs a DEST, unless the whole
    spec names a file); a DEST ending in ``/`` is a directory to put PATH's basename in. UTF-8
    files travel as text and anything else as base64, so binary files arrive byte for byte.
    ``cap`` is the service's cap on code, files and stdin together: a file alone over it, or the
    files together, are refused before they are read whole.
    """
    extras: list[Extra] = []
    where: dict[str, str] = {}  # DEST -> the spec that put a file there
    total = 0
    for spec in specs:
        local, dest = _split(spec)
        path = Path(local)
        if path.is_dir():
            raise typer.BadParameter(f"{local!r} is a directory; give a file", param_hint="'--file'")
        dest = _dest(spec, dest if dest is not None else path.name, path.name)
        if dest == main_file:
            raise typer.BadParameter(
                f"{spec}: {dest} is where the program itself goes; give another DEST (PATH:DEST)",
                param_hint="'--file'",
            )
        if dest in where:
            raise typer.BadParameter(
                f"{spec}: {dest} is also where --file {where[dest]} goes; give one of them another DEST",
                param_hint="'--file'",
            )
        where[dest] = spec
        data = _read_capped(local, path, cap)
        total += len(data)
        if total > cap:
            raise PayloadTooLarge(
                f"--file: the files total {total} bytes, over the server cap of {cap} on code, files "
                "and stdin together (SANDBOX_REQUEST_BYTES)"
            )
        try:
            text: str | None = data.decode()
        except UnicodeDecodeError:
            text = None
        if text is not None:
            file = FileInput(path=dest, content=text)
        else:
            file = FileInput(path=dest, content=base64.b64encode(data).decode(), encoding="base64")
        extras.append(Extra(file, local, text))
    return extras


def _split(spec: str) -> tuple[str, str | None]:
    local, colon, dest = spec.rpartition(":")
    if not colon or (not Path(local).exists() and Path(spec).exists()):
        return spec, None
    if not local:
        raise typer.BadParameter(f"{spec!r}: give the local PATH before ':'", param_hint="'--file'")
    return local, dest


def _dest(spec: str, dest: str, basename: str) -> str:
    """DEST checked with the service's own path rules (``FileInput``), so the refusal comes now."""
    if not dest:
        raise typer.BadParameter(f"{spec!r}: DEST after ':' is empty", param_hint="'--file'")
    if dest.endswith("/"):
        dest += basename
    try:
        FileInput(path=dest)
    except ValidationError as exc:
        reason = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
        raise typer.BadParameter(f"{spec}: {reason}", param_hint="'--file'") from None
    return dest


def _read_capped(local: str, path: Path, cap: int) -> bytes:
    """At most ``cap`` + 1 bytes: a file over the cap (or /dev/zero) is refused without reading it whole."""
    try:
        with path.open("rb") as handle:
            data = handle.read(cap + 1)
    except FileNotFoundError:
        raise typer.BadParameter(f"file {local!r} does not exist.", param_hint="'--file'") from None
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {local!r}: {exc.strerror}", param_hint="'--file'") from None
    if len(data) > cap:
        raise PayloadTooLarge(
            f"--file {local}: over {cap} bytes, the server cap on code, files and stdin together "
            "(SANDBOX_REQUEST_BYTES)"
        )
    return data


def parse_env(entries: list[str]) -> dict[str, str]:
    """``--env NAME=VALUE`` each, names checked as the service checks them; a name twice is refused.

    Values are never echoed in a message: they are plain variables, but may still be somebody's token.
    """
    env: dict[str, str] = {}
    used = 0
    for entry in entries:
        name, equals, value = entry.partition("=")
        if not equals or not name:
            raise typer.BadParameter(f"{name[:64]!r} is not NAME=VALUE", param_hint="'--env'")
        try:
            check_env_name(name)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="'--env'") from None
        if name in env:
            raise typer.BadParameter(f"{name} is given twice", param_hint="'--env'")
        try:
            used += len(name) + len(value.encode())
        except UnicodeEncodeError:  # bytes that were not UTF-8 on the command line
            raise typer.BadParameter(f"the value of {name} is not UTF-8 text", param_hint="'--env'") from None
        env[name] = value
        if len(env) > MAX_ENV:
            raise typer.BadParameter(f"at most {MAX_ENV} variables", param_hint="'--env'")
        if used > MAX_ENV_BYTES:
            raise typer.BadParameter(f"the variables take more than {MAX_ENV_BYTES // 1024} KiB", param_hint="'--env'")
    return env


def renamed(message: str, names: dict[str, str]) -> str:
    """A refusal's message with its leading ``main.py:L:C:`` (a verdict's summary) in the user's name."""
    for served, shown in names.items():
        if message.startswith(f"{served}:"):
            return shown + message[len(served) :]
    return message
