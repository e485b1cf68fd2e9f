"""Artifacts on the host: what the runner sent, described (media type, digest), kept on disk for a while.

The bytes come through the runner protocol (``engine.collected``); the host
never opens a path the program chose. On disk they are stored under names the
host picks: ``<state_dir>/artifacts/<execution id>/<index>``, the index being the
artifact's place in the result's ``artifacts`` list, so the record (which the
caller's key must own) is what maps a name to its bytes. Files older than the
retention are removed by ``sweep``; their entries stay in the records.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import mimetypes
import os
import re
import shutil
import time
from pathlib import Path

from sandbox.engine import CollectedArtifact
from sandbox.models import Artifact

log = logging.getLogger(__name__)

#: Leading bytes of the formats a program commonly writes, for names that say nothing.
SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
)
#: Media types a browser may render in place; anything else is served as an attachment.
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "text/plain", "text/csv"})
_EXECUTION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def media_type(name: str, data: bytes | None) -> str:
    """From the bytes' signature first (a PNG named ``plot.txt`` is a PNG), then the name."""
    if data:
        for signature, kind in SIGNATURES:
            if data.startswith(signature):
                return kind
    guessed, _ = mimetypes.guess_type(name, strict=False)
    if guessed:
        return guessed
    if data is not None and _is_text(data):
        return "text/plain"
    return "application/octet-stream"


def _is_text(data: bytes) -> bool:
    try:
        data[:4096].decode()
    except UnicodeDecodeError as exc:
        return exc.start >= 4092 and len(data) > 4096  # a character cut at the sample's end
    return b"\x00" not in data[:4096]


def describe(collected: list[CollectedArtifact]) -> tuple[list[Artifact], list[bytes | None]]:
    """The public entries of what the runner sent, and their bytes (None for a skipped one), in order."""
    entries: list[Artifact] = []
    contents: list[bytes | None] = []
    for item in collected:
        entries.append(
            Artifact(
                name=item.name,
                size=item.size,
                media_type=media_type(item.name, item.data),
                sha256=hashlib.sha256(item.data).hexdigest() if item.data is not None else None,
                skipped=item.skipped,
            )
        )
        contents.append(item.data)
    return entries, contents


def inline(entry: Artifact, data: bytes | None, max_bytes: int) -> Artifact:
    """``entry`` with its bytes as base64, if it has bytes and they fit ``max_bytes``."""
    if data is None or len(data) > max_bytes:
        return entry
    return entry.model_copy(update={"content_base64": base64.b64encode(data).decode()})


def artifact_headers(entry: Artifact) -> dict[str, str]:
    """Headers that keep a program's file from acting as a page of the API's origin: never sniffed,
    sandboxed if rendered, and downloaded unless it is an image or plain text."""
    disposition = "inline" if entry.media_type in INLINE_TYPES else "attachment"
    base = entry.name.rsplit("/", 1)[-1]
    filename = "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in base)  # a quoted header value
    return {
        "Content-Disposition": f'{disposition}; filename="{filename}"',
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox; default-src 'none'",
        "ETag": f'"{entry.sha256}"',
    }


class ArtifactStore:
    """Artifact bytes under ``root``, one directory per execution, kept ``retention_s`` seconds."""

    def __init__(self, root: Path, retention_s: float) -> None:
        self.root = root
        self.retention_s = retention_s

    def _dir(self, execution_id: str) -> Path:
        if not _EXECUTION_ID.match(execution_id):
            raise ValueError(f"not an execution id: {execution_id!r}")
        return self.root / execution_id

    def save_blocking(self, execution_id: str, contents: list[bytes | None]) -> None:
        """Write each artifact's bytes as ``<index>`` (a temporary name first, so a reader never sees half)."""
        if not any(data is not None for data in contents):
            return
        directory = self._dir(execution_id)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        for index, data in enumerate(contents):
            if data is None:
                continue
            partial = directory / f"{index}.partial"
            with open(partial, "wb", opener=lambda p, f: os.open(p, f | os.O_NOFOLLOW, 0o600)) as out:
                out.write(data)
            partial.replace(directory / str(index))

    async def save(self, execution_id: str, contents: list[bytes | None]) -> None:
        await asyncio.to_thread(self.save_blocking, execution_id, contents)

    def read_blocking(self, execution_id: str, index: int) -> bytes | None:
        """The bytes of artifact ``index``; None if they are gone (past the retention, or never stored)."""
        path = self._dir(execution_id) / str(index)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None

    async def read(self, execution_id: str, index: int) -> bytes | None:
        return await asyncio.to_thread(self.read_blocking, execution_id, index)

    def sweep_blocking(self, now: float | None = None) -> int:
        """Remove the executions' directories older than the retention; how many were removed."""
        cutoff = (now if now is not None else time.time()) - self.retention_s
        removed = 0
        with contextlib.suppress(FileNotFoundError):
            for directory in self.root.iterdir():
                with contextlib.suppress(OSError):
                    if directory.is_dir() and directory.stat().st_mtime < cutoff:
                        shutil.rmtree(directory)
                        removed += 1
        if removed:
            log.info("removed the artifacts of %d executions past the retention", removed)
        return removed

    async def sweep(self) -> int:
        return await asyncio.to_thread(self.sweep_blocking)
