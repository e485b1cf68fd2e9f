"""Key-encryption keys (KEKs): where they come from, and the interface that wraps data keys.

Callers see only ``KeyProvider``, so a KMS or a Vault transit backend (where the KEK never
leaves the server) can replace ``LocalKeyProvider`` without touching them. The local provider
holds several KEKs at once: the first is the primary (new wraps, rotation), the others only
unwrap, so a KEK is rotated without downtime (``SecretStore.rotate_kek``).

KEK location, best first (SECURITY-BAR 5.3): a KMS, a file delivered by the orchestrator
(``SANDBOX_SECRETS_KEK_FILE``, mode 0400, on tmpfs), ``SANDBOX_SECRETS_KEK`` from a secret
manager. The default key file next to the database exists so that a development server works
out of the box; it protects nothing against whoever copies the state directory.

Both take the same text: ``id:base64key`` entries (32 random bytes each) separated by commas or
newlines, primary first. Errors never echo an entry (an id typed the wrong way round would be
the key itself), only its position.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import re
import secrets
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from sandbox.errors import SecretError
from sandbox.secrets.crypto import KEY_BYTES, derive_wrapping_key, new_key, unwrap_dek, wrap_dek

if TYPE_CHECKING:
    from sandbox.config import Settings

log = logging.getLogger(__name__)

ENV_VAR = "SANDBOX_SECRETS_KEK"
FILE_VAR = "SANDBOX_SECRETS_KEK_FILE"
DEFAULT_KEY_FILE = "secrets.kek"
_KEK_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_MAX_KEY_FILE_BYTES = 64 << 10


class KeyProvider(Protocol):
    """Wraps and unwraps data keys with KEKs identified by id; ``aad`` is the row identity."""

    @property
    def primary_id(self) -> str:
        """The KEK new wraps use."""
        ...

    def ids(self) -> frozenset[str]:
        """Every KEK this provider can unwrap with."""
        ...

    def wrap(self, dek: bytes, aad: bytes) -> tuple[str, bytes]:
        """``(kek_id, wrapped)``: ``dek`` wrapped by the primary KEK, bound to ``aad``."""
        ...

    def unwrap(self, kek_id: str, wrapped: bytes, aad: bytes) -> bytes:
        """The DEK; SecretError if ``kek_id`` is not loaded or ``wrapped`` does not authenticate."""
        ...


class LocalKeyProvider:
    """KEKs held in this process (from the environment or a key file); only derived keys are kept."""

    def __init__(self, keks: Sequence[tuple[str, bytes]]) -> None:
        if not keks:
            raise SecretError("no KEK given")
        ids = [kek_id for kek_id, _ in keks]
        if len(set(ids)) != len(ids):
            raise SecretError("two KEKs share an id")
        self._primary = ids[0]
        self._wrapping = {kek_id: derive_wrapping_key(kek) for kek_id, kek in keks}

    @classmethod
    def from_text(cls, text: str, source: str) -> LocalKeyProvider:
        """Parse ``id:base64key`` entries (see the module docstring); ``source`` names where they came from."""
        return cls(parse_keks(text, source))

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalKeyProvider:
        """``SANDBOX_SECRETS_KEK`` if set, else the key file (the default one is created on first use)."""
        if settings.secrets_kek is not None:
            return cls.from_text(settings.secrets_kek.get_secret_value(), ENV_VAR)
        if settings.secrets_kek_file is not None:
            path = settings.secrets_kek_file
            source = f"{FILE_VAR}={path}"
            if not path.exists():
                # A file the orchestrator was meant to deliver: a fresh key here would strand every secret.
                raise SecretError(f"{source} does not exist; create it with one `sandbox secrets new-kek` line")
        else:
            path = settings.state_dir / DEFAULT_KEY_FILE
            source = f"the key file {path}"
            if not path.exists() and _create_key_file(path):
                log.warning(
                    "created the secrets key file %s with a new KEK. A key next to the database protects nothing "
                    "against whoever copies the state directory: in production supply the KEK from outside, "
                    "%s from a secret manager or %s pointing at a file delivered by the orchestrator",
                    path,
                    ENV_VAR,
                    FILE_VAR,
                )
        return cls.from_text(_read_key_file(path, source), source)

    @property
    def primary_id(self) -> str:
        return self._primary

    def ids(self) -> frozenset[str]:
        return frozenset(self._wrapping)

    def wrap(self, dek: bytes, aad: bytes) -> tuple[str, bytes]:
        return self._primary, wrap_dek(self._wrapping[self._primary], self._primary, dek, aad)

    def unwrap(self, kek_id: str, wrapped: bytes, aad: bytes) -> bytes:
        wrapping_key = self._wrapping.get(kek_id)
        if wrapping_key is None:
            raise SecretError(f"KEK {kek_id!r} is not loaded")
        return unwrap_dek(wrapping_key, kek_id, wrapped, aad)

    def __repr__(self) -> str:
        return f"LocalKeyProvider(primary={self._primary!r}, ids={sorted(self._wrapping)!r})"


def new_kek_line() -> str:
    """A fresh ``id:base64key`` entry: put it first (the new primary) and keep the old ones after it."""
    kek = new_key()
    return f"{derived_kek_id(kek)}:{base64.b64encode(kek).decode()}"


def derived_kek_id(kek: bytes) -> str:
    """The stable id of a KEK given without one: it identifies the key without revealing it."""
    return hmac.new(kek, b"kek-id", hashlib.sha256).hexdigest()[:8]


def parse_keks(text: str, source: str) -> list[tuple[str, bytes]]:
    """``[(id, key), ...]``, primary first; SecretError naming ``source`` and the entry's position."""
    entries = [entry for entry in re.split(r"[,\s]+", text) if entry]
    if not entries:
        raise SecretError(f"{source} holds no KEK: expected `id:base64key` entries (32 random bytes each)")
    keks: list[tuple[str, bytes]] = []
    for position, entry in enumerate(entries, 1):
        where = f"{source}: entry {position} of {len(entries)}"
        kek_id, colon, encoded = entry.partition(":")
        if not colon:
            kek_id, encoded = "", entry
        elif not _KEK_ID.fullmatch(kek_id):
            raise SecretError(f"{where}: the id before ':' must be 1-64 of A-Z a-z 0-9 . _ -")
        kek = _b64decode(encoded)
        if kek is None:
            raise SecretError(f"{where}: the key is not base64 (standard or URL-safe)")
        if len(kek) != KEY_BYTES:
            raise SecretError(f"{where}: the key is {len(kek)} bytes; a KEK is {KEY_BYTES} random bytes")
        kek_id = kek_id or derived_kek_id(kek)
        if any(kek_id == seen for seen, _ in keks):
            raise SecretError(f"{where}: its id is already used by an earlier entry")
        keks.append((kek_id, kek))
    return keks


def _b64decode(text: str) -> bytes | None:
    """Standard or URL-safe base64, padded or not; None if it is neither."""
    normalized = text.replace("-", "+").replace("_", "/")
    normalized += "=" * (-len(normalized) % 4)
    try:
        return base64.b64decode(normalized, validate=True)
    except (binascii.Error, ValueError):
        return None


def _read_key_file(path: Path, source: str) -> str:
    """The file's text, refused unless only its owner may read or write it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise SecretError(f"{source} cannot be read: {exc.strerror}") from None
    try:
        info = os.fstat(fd)  # the opened file itself, not whatever the path names now
        if not stat.S_ISREG(info.st_mode):
            raise SecretError(f"{source} is not a regular file")
        if info.st_mode & 0o077:
            raise SecretError(
                f"{source} is accessible by group or others (mode {stat.S_IMODE(info.st_mode):04o}): "
                "make it 0600 or 0400, owned by the service's user"
            )
        data = os.read(fd, _MAX_KEY_FILE_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > _MAX_KEY_FILE_BYTES:
        raise SecretError(f"{source} is larger than {_MAX_KEY_FILE_BYTES} bytes: not a key file")
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        raise SecretError(f"{source} is not text (`id:base64key` entries)") from None


def _create_key_file(path: Path) -> bool:
    """Create ``path`` (mode 0600) holding one fresh KEK; False if another process created it first.

    The key is written to a private temporary file (O_CREAT|O_EXCL, 0600) and hard-linked into
    place, which fails if the file exists: a concurrent server process (``--workers``) reads
    either nothing or the whole key, and an existing key is never overwritten.
    """
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(new_kek_line() + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.link(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
    except FileExistsError:
        return False
    except OSError as exc:
        raise SecretError(f"cannot create the key file {path}: {exc.strerror}") from None
    return True


class LazyKeyProvider:
    """``LocalKeyProvider.from_settings`` on first use: a server that never stores a secret never
    creates (or warns about) a key file."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._loaded: LocalKeyProvider | None = None

    @property
    def loaded(self) -> LocalKeyProvider:
        if self._loaded is None:
            self._loaded = LocalKeyProvider.from_settings(self._settings)
        return self._loaded

    @property
    def primary_id(self) -> str:
        return self.loaded.primary_id

    def ids(self) -> frozenset[str]:
        return self.loaded.ids()

    def wrap(self, dek: bytes, aad: bytes) -> tuple[str, bytes]:
        return self.loaded.wrap(dek, aad)

    def unwrap(self, kek_id: str, wrapped: bytes, aad: bytes) -> bytes:
        return self.loaded.unwrap(kek_id, wrapped, aad)
