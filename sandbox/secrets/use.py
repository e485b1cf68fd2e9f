"""Secrets for the doors and the execution path: write-only management, names checked at
admission, values revealed in one place.

``put``, ``names``, ``delete`` and ``rotate_kek`` are what REST and the CLI call (audited;
nothing ever returns a value).

``SecretAccess.check`` runs at admission (an unknown name is a 400 naming it, before any
container is touched); ``SecretAccess.reveal`` is the one place a value is decrypted for a
run: just before the runner message is built, for the names the run asked and its key owns.
What it returns holds the values for the runner message (they travel over the container's
stdin, never in Docker's env, labels or command line), the versions for the record, and the
``Redactor`` for everything that comes back. Each reveal is an audit event (names and
versions, never values).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sandbox.errors import NotFound, RequestRejected
from sandbox.models import check_env_name
from sandbox.responses import SecretInfo
from sandbox.secrets.redaction import Redactor
from sandbox.secrets.vault import RotationReport, SecretStore

Audit = Callable[..., Awaitable[None]]


@dataclass(frozen=True, repr=False)
class Revealed:
    """A run's secrets: ``env`` (name -> value) for the runner message only, ``versions`` for the record."""

    env: dict[str, str] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    redactor: Redactor = field(default_factory=lambda: Redactor({}))

    def __repr__(self) -> str:  # never the values, whatever logs it
        return f"Revealed(names={sorted(self.versions)})"


NOTHING = Revealed()


class SecretAccess:
    """The store's secrets as runs use them (``vault`` is None without a database: the CLI)."""

    def __init__(self, vault: SecretStore | None, audit: Audit) -> None:
        self.vault = vault
        self._audit = audit

    async def check(self, key_id: str | None, names: Sequence[str]) -> None:
        """Refuse (400) names the key does not own."""
        if not names:
            return
        if self.vault is None or key_id is None:
            raise RequestRejected("secrets are kept by the server (`sandbox serve`): this door has none")
        missing = await asyncio.to_thread(self.vault.missing, key_id, names)
        if missing:
            plural = "s" if len(missing) > 1 else ""
            raise RequestRejected(
                f"unknown secret{plural} {', '.join(missing)} for this key; set one with PUT /v1/secrets/<NAME>"
            )

    async def reveal(self, key_id: str | None, names: Sequence[str], **context: Any) -> Revealed:
        """Decrypt ``names`` for one run (or session); audited as ``secret.used`` with ``context``."""
        if not names:
            return NOTHING
        if self.vault is None or key_id is None:
            raise RequestRejected("secrets are kept by the server (`sandbox serve`): this door has none")
        found = await asyncio.to_thread(self.vault.reveal, key_id, names)
        versions = {name: version for name, (_, version) in found.items()}
        await self._audit("secret.used", key_id, names=sorted(versions), versions=versions, **context)
        values = {name: value for name, (value, _) in found.items()}
        return Revealed(values, versions, Redactor(values))

    # ---------------------------------------------------------------- management (the doors)
    async def put(self, key_id: str, name: str, value: str) -> tuple[SecretInfo, bool]:
        """Create or replace ``name`` (a new version); True if it was created."""
        try:
            check_env_name(name)  # a secret is an environment variable: one a run could never use is refused now
        except ValueError as exc:
            raise RequestRejected(f"invalid secret name: {exc}") from None
        info, created = await asyncio.to_thread(self._vault().put, key_id, name, value)
        event = "secret.created" if created else "secret.replaced"
        await self._audit(event, key_id, name=info.name, version=info.version)
        return info, created

    async def names(self, key_id: str) -> list[SecretInfo]:
        return await asyncio.to_thread(self._vault().list, key_id)

    async def delete(self, key_id: str, name: str) -> None:
        """Forget ``name``; ``NotFound`` if this key has no such secret."""
        if not await asyncio.to_thread(self._vault().delete, key_id, name):
            raise NotFound(f"this key has no secret {name!r}")
        await self._audit("secret.deleted", key_id, name=name)

    async def rotate_kek(self) -> RotationReport:
        """Re-wrap every data key under the primary KEK (values are not re-encrypted)."""
        report = await asyncio.to_thread(self._vault().rotate_kek)
        await self._audit("secret.kek_rotated", None, **report.model_dump())
        return report

    def _vault(self) -> SecretStore:
        if self.vault is None:
            raise RequestRejected("secrets are kept by the server (`sandbox serve`): this door has none")
        return self.vault
