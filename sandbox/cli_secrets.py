"""``sandbox secrets``: a key's secrets from the command line, write-only.

Values come from stdin (a pipe) or a hidden prompt, never from the command line
(where ``ps`` and the shell's history would keep them). ``--key`` names the owner;
with a single live key it may be left out. The commands work on the database and
KEK of this machine's settings, as the server does (``SecretAccess``, audited).
"""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from sandbox.errors import RequestRejected

secrets_app = typer.Typer(help="Manage a key's secrets (encrypted; values are never shown).", no_args_is_help=True)
err = Console(stderr=True)
KeyOption = Annotated[str | None, typer.Option("--key", help="Owner: the name of an API key (default: the only one).")]


def _access() -> tuple[Any, Any]:
    """The store and a ``SecretAccess`` over it (audit events written to the same store)."""
    from sandbox.cli import _store
    from sandbox.secrets import LazyKeyProvider, SecretStore
    from sandbox.secrets.use import SecretAccess

    store, settings = _store()

    async def audit(event: str, key_id: str | None, **detail: Any) -> None:
        await asyncio.to_thread(store.audit, event, key_id, **detail)

    return store, SecretAccess(SecretStore(store, LazyKeyProvider(settings)), audit)


def _owner(store: Any, name: str | None) -> str:
    live = [key for key in store.list_keys() if key.revoked_at is None]
    if name is None:
        if len(live) != 1:
            raise RequestRejected(f"{len(live)} live keys: name the owner with --key")
        return str(live[0].id)
    for key in live:
        if key.name == name:
            return str(key.id)
    raise RequestRejected(f"no live key named {name!r}")


def _read_value() -> str:
    if not sys.stdin.isatty():
        value = sys.stdin.read()
        value = value[:-1] if value.endswith("\n") else value  # `echo` and here-strings add one
    else:
        value = str(typer.prompt("value", hide_input=True, confirmation_prompt=True))
    if not value:
        raise RequestRejected("the value is empty (pipe it on stdin, or type it at the prompt)")
    return value


@secrets_app.command("set")
def secrets_set(
    name: Annotated[str, typer.Argument(help="An environment-variable name.")], key: KeyOption = None
) -> None:
    """Create or replace a secret; the value is read from stdin or a hidden prompt."""
    store, access = _access()
    try:
        info, created = asyncio.run(access.put(_owner(store, key), name, _read_value()))
    finally:
        store.close()
    err.print(f"{'created' if created else 'replaced'} {info.name} (version {info.version})", markup=False)


@secrets_app.command("list")
def secrets_list(key: KeyOption = None) -> None:
    """The key's secrets: names, versions, times (never values)."""
    store, access = _access()
    try:
        found = asyncio.run(access.names(_owner(store, key)))
    finally:
        store.close()
    table = Table("name", "version", "created", "updated")
    for info in found:
        table.add_row(
            info.name,
            str(info.version),
            info.created_at.isoformat(timespec="seconds"),
            info.updated_at.isoformat(timespec="seconds"),
        )
    Console().print(table)


@secrets_app.command("delete")
def secrets_delete(name: Annotated[str, typer.Argument(help="The secret's name.")], key: KeyOption = None) -> None:
    """Forget a secret."""
    store, access = _access()
    try:
        asyncio.run(access.delete(_owner(store, key), name))
    finally:
        store.close()
    err.print(f"deleted {name}", markup=False)


@secrets_app.command("rotate-kek")
def secrets_rotate_kek() -> None:
    """Re-wrap every data key under the primary KEK (the first of SANDBOX_SECRETS_KEK); values are not
    re-encrypted. Keep the old KEK loaded (second) until this reports nothing left under it."""
    store, access = _access()
    try:
        report = asyncio.run(access.rotate_kek())
    finally:
        store.close()
    err.print(
        f"primary KEK {report.primary}: {report.rewrapped} data key(s) re-wrapped, {report.current} already under it",
        markup=False,
    )


@secrets_app.command("new-kek")
def secrets_new_kek() -> None:
    """Print a new KEK line (``id:base64``) to put first in SANDBOX_SECRETS_KEK before a rotation."""
    from sandbox.secrets import new_kek_line

    typer.echo(new_kek_line())
