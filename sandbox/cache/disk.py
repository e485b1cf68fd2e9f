"""The result cache in a directory: what `sandbox run --cache` keeps between one CLI process and the next.

A CLI run is a process of its own, so a memory cache would never be asked twice;
without Redis, its entries are files under ``state_dir/result-cache`` (mode 0700:
they hold programs' output), one per key, each starting with its expiry time.
Bounded like the memory store: past ``max_entries`` or ``max_bytes`` the oldest
files go. A write is a new file renamed into place, so a reader never sees half
an entry, and two CLI processes writing the same key leave one whole entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from pathlib import Path

from sandbox.cache.results import CacheUnavailable, ResultStore


class DirectoryResults(ResultStore):
    """Entries as files in ``directory``; an unreadable directory is ``CacheUnavailable`` (the run goes on)."""

    name = "directory"

    def __init__(self, directory: Path, max_entries: int, max_bytes: int) -> None:
        self.directory = directory
        self.max_entries = max_entries
        self.max_bytes = max_bytes

    async def get(self, key: str) -> bytes | None:
        return await asyncio.to_thread(self._get, key)

    async def put(self, key: str, data: bytes, ttl_s: float) -> None:
        await asyncio.to_thread(self._put, key, data, ttl_s)

    def _get(self, key: str) -> bytes | None:
        path = self.directory / key
        try:
            stored = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CacheUnavailable(f"{type(exc).__name__}: {exc.strerror}") from exc
        expiry, _, data = stored.partition(b"\n")
        try:
            expired = float(expiry) <= time.time()
        except ValueError:
            expired = True  # not one of ours: dropped like an expired one
        if expired:
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        return data

    def _put(self, key: str, data: bytes, ttl_s: float) -> None:
        if len(data) > self.max_bytes or self.max_entries == 0:
            return
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            partial = self.directory / f".{key}.{uuid.uuid4().hex}"
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(b"%r\n" % (time.time() + ttl_s))
                out.write(data)
            os.replace(partial, self.directory / key)
            self._trim()
        except OSError as exc:
            raise CacheUnavailable(f"{type(exc).__name__}: {exc.strerror}") from exc

    def _trim(self) -> None:
        """Drop the oldest entries until the rest fit the bounds (a vanished file: another process's trim)."""
        entries = []
        for entry in os.scandir(self.directory):
            with contextlib.suppress(FileNotFoundError):
                info = entry.stat(follow_symlinks=False)
                entries.append((info.st_mtime, info.st_size, entry.path))
        entries.sort()
        count, size = len(entries), sum(size for _, size, _ in entries)
        for _, entry_size, path in entries:
            if count <= self.max_entries and size <= self.max_bytes:
                break
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            count, size = count - 1, size - entry_size
