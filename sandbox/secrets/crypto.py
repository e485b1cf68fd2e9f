"""Envelope encryption of secret values: the one module that imports ``cryptography``.

Each value is sealed with AES-256-GCM under its own random data key (DEK) and a random 96-bit
nonce; the associated data is the row's identity ``owner|name|version``, so a ciphertext copied
to another owner, name or version no longer authenticates (SECURITY-BAR 5.1). The DEK is then
wrapped by a key-encryption key (KEK), also AES-256-GCM, bound to the KEK's id and the same row
identity. Rotating the KEK re-wraps DEKs and never touches values.

A KEK is never used directly: the wrapping key is derived from it with HKDF-SHA256, so the same
master material could later serve another purpose (another ``info``) without key reuse.

Python cannot reliably wipe ``str`` or ``bytes`` from memory (OWASP 2.5 accepts the residual
risk), so plaintexts and DEKs are kept in locals only, never on an object, and dropped when the
call returns.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sandbox.errors import SecretError

if TYPE_CHECKING:
    from sandbox.secrets.keys import KeyProvider

KEY_BYTES = 32  # AES-256, for DEKs and KEKs alike
NONCE_BYTES = 12  # 96-bit GCM nonces, random: a fresh key per value keeps the nonce-reuse risk nil
_KEK_INFO = b"sandbox-secrets-kek-v1"
_WRAP_FORMAT = b"\x01"  # first byte of a locally wrapped DEK, so the layout can change later


@dataclass(frozen=True, repr=False)
class Sealed:
    """What is stored for one secret: nothing here is secret without the KEK."""

    kek_id: str
    wrapped_dek: bytes
    value_nonce: bytes
    ciphertext: bytes

    def __repr__(self) -> str:  # the blobs are useless in a log line
        return f"Sealed(kek_id={self.kek_id!r}, ciphertext={len(self.ciphertext)} bytes)"


def new_key() -> bytes:
    """A fresh random 256-bit key (a DEK, or a KEK for the key file)."""
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def row_identity(owner: str, name: str, version: int) -> bytes:
    """The associated data that binds a ciphertext and its wrapped DEK to one row.

    Unambiguous without escaping: names never hold ``|`` and versions are integers, so the
    fields can be read back from the right.
    """
    return f"{owner}|{name}|{version}".encode()


def derive_wrapping_key(kek: bytes) -> bytes:
    """The key that actually wraps DEKs, derived from a KEK for this one purpose."""
    if len(kek) != KEY_BYTES:
        raise SecretError(f"a KEK must be {KEY_BYTES} bytes")
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=_KEK_INFO).derive(kek)


def wrap_dek(wrapping_key: bytes, kek_id: str, dek: bytes, identity: bytes) -> bytes:
    """``format || nonce || AES-GCM(dek)``, bound to the KEK id and the row identity."""
    nonce = os.urandom(NONCE_BYTES)
    return _WRAP_FORMAT + nonce + AESGCM(wrapping_key).encrypt(nonce, dek, _wrap_aad(kek_id, identity))


def unwrap_dek(wrapping_key: bytes, kek_id: str, wrapped: bytes, identity: bytes) -> bytes:
    """The DEK of ``wrapped``; SecretError if it was tampered with, moved, or wrapped by another KEK."""
    head, nonce, body = wrapped[:1], wrapped[1 : 1 + NONCE_BYTES], wrapped[1 + NONCE_BYTES :]
    if head != _WRAP_FORMAT or len(nonce) != NONCE_BYTES:
        raise SecretError(f"the wrapped data key is not in a known format (KEK {kek_id!r})")
    try:
        dek = AESGCM(wrapping_key).decrypt(nonce, body, _wrap_aad(kek_id, identity))
    except (InvalidTag, ValueError):
        raise SecretError(
            f"the data key does not authenticate under KEK {kek_id!r} (tampered with, or moved from another row)"
        ) from None
    if len(dek) != KEY_BYTES:
        raise SecretError(f"the data key under KEK {kek_id!r} has the wrong length")
    return dek


def seal(value: str, identity: bytes, keys: KeyProvider) -> Sealed:
    """Encrypt ``value`` under a fresh DEK, and wrap that DEK with the provider's primary KEK."""
    dek = new_key()
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(dek).encrypt(nonce, value.encode(), identity)
    kek_id, wrapped = keys.wrap(dek, identity)
    return Sealed(kek_id=kek_id, wrapped_dek=wrapped, value_nonce=nonce, ciphertext=ciphertext)


def open_sealed(sealed: Sealed, identity: bytes, keys: KeyProvider) -> str:
    """The plaintext of ``sealed``; SecretError (never garbage) if anything does not authenticate."""
    dek = keys.unwrap(sealed.kek_id, sealed.wrapped_dek, identity)
    try:  # ValueError: a nonce or key of the wrong length
        plaintext = AESGCM(dek).decrypt(sealed.value_nonce, sealed.ciphertext, identity)
    except (InvalidTag, ValueError):
        raise SecretError("the value does not authenticate (tampered with, or moved from another row)") from None
    try:
        return plaintext.decode()
    except UnicodeDecodeError:  # authentic, so only a bug could get here; say nothing about the bytes
        raise SecretError("the value is not valid UTF-8") from None


def rewrap(sealed: Sealed, identity: bytes, keys: KeyProvider) -> Sealed:
    """``sealed`` with its DEK wrapped by the provider's primary KEK; the value is not re-encrypted."""
    kek_id, wrapped = keys.wrap(keys.unwrap(sealed.kek_id, sealed.wrapped_dek, identity), identity)
    return replace(sealed, kek_id=kek_id, wrapped_dek=wrapped)


def _wrap_aad(kek_id: str, identity: bytes) -> bytes:
    return kek_id.encode() + b"|" + identity
