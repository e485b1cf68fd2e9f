"""Persistence. Import from here; SQLAlchemy stays inside this package."""

from sandbox.store.store import KEY_PREFIX, Store, hash_key, redact_url
from sandbox.store.writer import RecordWriter

__all__ = ["KEY_PREFIX", "RecordWriter", "Store", "hash_key", "redact_url"]
