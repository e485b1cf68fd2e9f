"""Persistence. Import from here; SQLAlchemy stays inside this package."""

from sandbox.store.store import KEY_PREFIX, Store, hash_key

__all__ = ["KEY_PREFIX", "Store", "hash_key"]
