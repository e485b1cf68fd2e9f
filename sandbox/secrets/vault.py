"""The encrypted secret store: each API key's named secrets, sealed by ``crypto``, kept by ``Store``.

Only the current version of a secret is kept; replacing it bumps ``version`` (runs record the
versions they used) and seals the new value under a fresh data key. Every query filters by the
owner: a key sees, reveals and deletes only its own secrets. Values are decrypted only in
``reveal``, for the names asked; ``list``, ``verify`` and ``rotate_kek`` never decrypt one.

Calls are synchronous and short (the service runs them in a thread). Queries go through the
store's ORM session (``Session.query``), so SQLAlchemy itself stays imported only by
``sandbox.store``; database errors come out as ``StoreError`` through ``Store._guard``.
"""

from __future__ import annotations

import builtins
import logging
import re
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from sandbox.errors import RequestRejected, SecretError, StoreError
from sandbox.responses import SecretInfo
from sandbox.secrets.crypto import Sealed, open_sealed, rewrap, row_identity, seal
from sandbox.store.tables import SecretRow

if TYPE_CHECKING:
    from sandbox.secrets.keys import KeyProvider
    from sandbox.store import Store

log = logging.getLogger(__name__)

NAME_PATTERN = r"[A-Z_][A-Z0-9_]{0,127}"
_NAME = re.compile(NAME_PATTERN)
#: A secret, not a file: keys, tokens, a PEM key fit. Redaction looks for every encoding of every value
#: in all output, so a value's size costs every run that uses it (64 KiB values took seconds a chunk).
MAX_VALUE_BYTES = 4 << 10
#: Shorter values cannot be redacted without mangling ordinary text (SECURITY-BAR 5.5).
MIN_VALUE_CHARS = 8
_PUT_ATTEMPTS = 3  # a put that loses a race re-reads the version and seals again
_PAGE = 200  # rows per query and per transaction in rotate_kek and verify


class RotationReport(BaseModel):
    """What ``rotate_kek`` did: DEKs re-wrapped under ``primary``, and those already under it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    primary: str
    rewrapped: int
    current: int
    skipped: int = 0  # replaced or deleted while rotating (a replacement is sealed under the primary anyway)


def check_name(name: str) -> None:
    """RequestRejected unless ``name`` fits an environment variable: ``[A-Z_][A-Z0-9_]{0,127}``.

    The name is not echoed: a value pasted where a name belongs would end up in a log.
    """
    if _NAME.fullmatch(name):
        return
    if not name:
        reason = "it is empty"
    elif len(name) > 128:
        reason = f"it is {len(name)} characters long (at most 128)"
    elif name[0].isdigit():
        reason = "it starts with a digit"
    else:
        reason = "it may hold only upper-case letters A-Z, digits and '_'"
    raise RequestRejected(f"invalid secret name: {reason}")


class SecretStore:
    """See the module docstring. ``keys`` wraps data keys; the KEKs never reach the database."""

    def __init__(self, store: Store, keys: KeyProvider) -> None:
        self._store = store
        self._keys = keys

    # ------------------------------------------------------------------ write
    def put(self, owner: str, name: str, value: str) -> tuple[SecretInfo, bool]:
        """Create or replace ``name``; ``(info, created)``. Version 1 first, then one more per replacement."""
        check_name(name)
        try:
            size = len(value.encode())
        except UnicodeEncodeError:
            raise RequestRejected(f"secret {name}: the value is not valid Unicode text") from None
        if size > MAX_VALUE_BYTES:
            raise RequestRejected(f"secret {name}: the value is {size} bytes, more than {MAX_VALUE_BYTES}")
        if len(value) < MIN_VALUE_CHARS or "\x00" in value:
            raise RequestRejected(
                f"secret {name}: a value needs at least {MIN_VALUE_CHARS} characters (shorter ones cannot be "
                "redacted from output) and no NUL"
            )
        for _ in range(_PUT_ATTEMPTS):
            head = self._head(owner, name)
            version = 1 if head is None else head[0] + 1
            sealed = seal(value, row_identity(owner, name, version), self._keys)
            at = datetime.now(UTC)
            if head is None and self._insert(owner, name, sealed, at):
                return SecretInfo(name=name, version=1, created_at=at, updated_at=at), True
            if head is not None and self._replace(owner, name, head[0], sealed, at):
                return SecretInfo(name=name, version=version, created_at=head[1], updated_at=at), False
        raise SecretError(f"secret {name!r} of key {owner} kept changing while it was stored; try again")

    def _head(self, owner: str, name: str) -> tuple[int, datetime] | None:
        """The current version and creation time of ``name``, if it exists."""
        with self._store._guard("read a secret"), self._store._session() as session:
            row = (
                session.query(SecretRow.version, SecretRow.created_at)
                .filter(SecretRow.owner_key_id == owner, SecretRow.name == name)
                .one_or_none()
            )
        return None if row is None else (row.version, _utc(row.created_at))

    def _insert(self, owner: str, name: str, sealed: Sealed, at: datetime) -> bool:
        """Insert version 1; False if a concurrent put created the secret first."""
        try:
            with self._store._guard("store a secret"), self._store._session.begin() as session:
                session.add(
                    SecretRow(
                        id=uuid.uuid4().hex,
                        owner_key_id=owner,
                        name=name,
                        version=1,
                        **_sealed_columns(sealed),
                        created_at=at,
                        updated_at=at,
                    )
                )
        except StoreError:
            if self._head(owner, name) is None:
                raise  # not a lost race: an unknown owner, or the database failing
            return False
        return True

    def _replace(self, owner: str, name: str, old: int, sealed: Sealed, at: datetime) -> bool:
        """Replace version ``old`` with ``old + 1``; False if it is no longer ``old`` (a concurrent put)."""
        values: dict[Any, Any] = {"version": old + 1, **_sealed_columns(sealed), "updated_at": at}
        with self._store._guard("store a secret"), self._store._session.begin() as session:
            changed = (
                session.query(SecretRow)
                .filter(SecretRow.owner_key_id == owner, SecretRow.name == name, SecretRow.version == old)
                .update(values, synchronize_session=False)
            )
        return changed == 1

    def delete(self, owner: str, name: str) -> bool:
        """Delete ``name``; False if the owner has no such secret."""
        check_name(name)
        with self._store._guard("delete a secret"), self._store._session.begin() as session:
            deleted = (
                session.query(SecretRow)
                .filter(SecretRow.owner_key_id == owner, SecretRow.name == name)
                .delete(synchronize_session=False)
            )
        return deleted > 0

    # ------------------------------------------------------------------- read
    def list(self, owner: str) -> builtins.list[SecretInfo]:
        """The owner's secrets by name, without values (the ciphertexts are not even loaded)."""
        with self._store._guard("list secrets"), self._store._session() as session:
            rows = (
                session.query(SecretRow.name, SecretRow.version, SecretRow.created_at, SecretRow.updated_at)
                .filter(SecretRow.owner_key_id == owner)
                .order_by(SecretRow.name)
                .all()
            )
        return [
            SecretInfo(name=r.name, version=r.version, created_at=_utc(r.created_at), updated_at=_utc(r.updated_at))
            for r in rows
        ]

    def missing(self, owner: str, names: Iterable[str]) -> builtins.list[str]:
        """Those of ``names`` the owner has no secret for, in the order given, each once."""
        wanted = _checked(names)
        with self._store._guard("read secrets"), self._store._session() as session:
            found = {
                r.name
                for r in session.query(SecretRow.name).filter(
                    SecretRow.owner_key_id == owner, SecretRow.name.in_(wanted)
                )
            }
        return [name for name in wanted if name not in found]

    def reveal(self, owner: str, names: Iterable[str]) -> dict[str, tuple[str, int]]:
        """``{name: (value, version)}`` for the names asked and nothing else.

        RequestRejected naming any the owner does not have; SecretError naming the first secret
        that does not decrypt (no partial answer).
        """
        wanted = _checked(names)
        if not wanted:
            return {}
        with self._store._guard("read secrets"), self._store._session() as session:
            rows = session.query(SecretRow).filter(SecretRow.owner_key_id == owner, SecretRow.name.in_(wanted)).all()
        unknown = sorted(set(wanted) - {row.name for row in rows})
        if unknown:
            raise RequestRejected(f"no such secret: {', '.join(unknown)}")
        revealed: dict[str, tuple[str, int]] = {}
        for row in rows:
            identity = row_identity(owner, row.name, row.version)
            try:
                revealed[row.name] = (open_sealed(_sealed(row), identity, self._keys), row.version)
            except SecretError as exc:
                revealed.clear()
                raise SecretError(f"secret {row.name!r} of key {owner} cannot be decrypted: {exc.message}") from None
        return revealed

    # ------------------------------------------------------------ key upkeep
    def rotate_kek(self) -> RotationReport:
        """Re-wrap every DEK not under the provider's primary KEK; values are not re-encrypted.

        Safe online and resumable: each row is updated only if it is still the version and KEK
        that was read (a concurrent put seals under the primary anyway), a page at a time.
        """
        primary = self._keys.primary_id
        counts = self._kek_counts()
        self._require_loaded(counts)
        rewrapped = skipped = 0
        after = ""
        while True:
            with self._store._guard("read secrets for rotation"), self._store._session() as session:
                page = (
                    session.query(SecretRow)
                    .filter(SecretRow.kek_id != primary, SecretRow.id > after)
                    .order_by(SecretRow.id)
                    .limit(_PAGE)
                    .all()
                )
            if not page:
                break
            after = page[-1].id
            updates = [(row, self._rewrapped(row)) for row in page]
            with self._store._guard("re-wrap secrets"), self._store._session.begin() as session:
                for row, sealed in updates:
                    changed = (
                        session.query(SecretRow)
                        .filter(
                            SecretRow.id == row.id, SecretRow.version == row.version, SecretRow.kek_id == row.kek_id
                        )
                        .update({"kek_id": sealed.kek_id, "wrapped_dek": sealed.wrapped_dek}, synchronize_session=False)
                    )
                    rewrapped += changed
                    skipped += 1 - changed
        report = RotationReport(primary=primary, rewrapped=rewrapped, current=counts.get(primary, 0), skipped=skipped)
        log.info("secrets KEK rotation: %d re-wrapped under %s, %d already were", rewrapped, primary, report.current)
        return report

    def verify(self) -> int:
        """Unwrap every DEK (values stay sealed); the number checked.

        SecretError if a KEK some secrets need is not loaded (naming the KEK ids and how many
        secrets each holds), or naming the first secret whose DEK does not unwrap. A server
        refuses to start on it rather than fail on the first run that needs a secret.
        """
        counts = self._kek_counts()
        if not counts:
            return 0  # nothing sealed: no KEK needed (a server that never stores a secret makes no key file)
        self._require_loaded(counts)
        checked = 0
        after = ""
        while True:
            with self._store._guard("read secrets for verification"), self._store._session() as session:
                page = (
                    session.query(
                        SecretRow.id,
                        SecretRow.owner_key_id,
                        SecretRow.name,
                        SecretRow.version,
                        SecretRow.kek_id,
                        SecretRow.wrapped_dek,
                    )
                    .filter(SecretRow.id > after)
                    .order_by(SecretRow.id)
                    .limit(_PAGE)
                    .all()
                )
            if not page:
                return checked
            after = page[-1].id
            for row in page:
                identity = row_identity(row.owner_key_id, row.name, row.version)
                try:
                    self._keys.unwrap(row.kek_id, row.wrapped_dek, identity)
                except SecretError as exc:
                    raise SecretError(
                        f"secret {row.name!r} of key {row.owner_key_id} does not unwrap: {exc.message}"
                    ) from None
                checked += 1

    def _rewrapped(self, row: SecretRow) -> Sealed:
        try:
            return rewrap(_sealed(row), row_identity(row.owner_key_id, row.name, row.version), self._keys)
        except SecretError as exc:
            raise SecretError(
                f"secret {row.name!r} of key {row.owner_key_id} cannot be re-wrapped: {exc.message}"
            ) from None

    def _kek_counts(self) -> dict[str, int]:
        """How many secrets each KEK id wraps."""
        with self._store._guard("count secrets by KEK"), self._store._session() as session:
            ids = [r.kek_id for r in session.query(SecretRow.kek_id).distinct()]
            return {kek_id: session.query(SecretRow).filter(SecretRow.kek_id == kek_id).count() for kek_id in ids}

    def _require_loaded(self, counts: dict[str, int]) -> None:
        loaded = self._keys.ids()
        missing = {kek_id: n for kek_id, n in sorted(counts.items()) if kek_id not in loaded}
        if missing:
            which = ", ".join(f"{kek_id!r} ({n} secret{'s' if n != 1 else ''})" for kek_id, n in missing.items())
            raise SecretError(
                f"secrets are wrapped by KEKs that are not loaded: {which}; "
                "add them after the primary in SANDBOX_SECRETS_KEK or the key file"
            )


def _checked(names: Iterable[str]) -> list[str]:
    """``names`` validated, each once, in order."""
    unique = list(dict.fromkeys(names))
    for name in unique:
        check_name(name)
    return unique


def _sealed(row: SecretRow) -> Sealed:
    return Sealed(
        kek_id=row.kek_id, wrapped_dek=row.wrapped_dek, value_nonce=row.value_nonce, ciphertext=row.ciphertext
    )


def _sealed_columns(sealed: Sealed) -> dict[str, Any]:
    return {
        "kek_id": sealed.kek_id,
        "wrapped_dek": sealed.wrapped_dek,
        "value_nonce": sealed.value_nonce,
        "ciphertext": sealed.ciphertext,
    }


def _utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
