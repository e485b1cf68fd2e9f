"""Per-key secrets, encrypted at rest: envelope encryption (``crypto``), KEKs (``keys``), the store (``vault``).

``crypto`` is the only module of the project that imports ``cryptography``.
"""

from sandbox.responses import SecretInfo
from sandbox.secrets.keys import KeyProvider, LazyKeyProvider, LocalKeyProvider, new_kek_line
from sandbox.secrets.vault import NAME_PATTERN, RotationReport, SecretStore, check_name

__all__ = [
    "NAME_PATTERN",
    "KeyProvider",
    "LazyKeyProvider",
    "LocalKeyProvider",
    "RotationReport",
    "SecretInfo",
    "SecretStore",
    "check_name",
    "new_kek_line",
]
