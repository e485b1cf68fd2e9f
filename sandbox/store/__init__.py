"""Persistence. Import from here; SQLAlchemy stays inside this package."""

from sandbox.store.activity import Activity, Failure, minute_of, recent_activity
from sandbox.store.engine import redact_url
from sandbox.store.schema import schema_revisions
from sandbox.store.store import KEY_PREFIX, Store, hash_key
from sandbox.store.writer import RecordWriter

__all__ = [
    "KEY_PREFIX",
    "Activity",
    "Failure",
    "RecordWriter",
    "Store",
    "hash_key",
    "minute_of",
    "recent_activity",
    "redact_url",
    "schema_revisions",
]
