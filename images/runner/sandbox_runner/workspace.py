"""The workdir: request paths checked, files written and read without following links.

The workdir is shared with the program, which may plant symlinks there (in a
session, between two requests). Every path is therefore relative, free of
``..``, and walked one directory at a time with ``O_NOFOLLOW``, so a link can
never send a write or a read outside the workdir.
"""

from __future__ import annotations

import binascii
import contextlib
import os

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at start-up
if TYPE_CHECKING:
    from . import wire

WORKDIR = os.environ.get("SANDBOX_WORKDIR", "/workspace")
MAX_FILE_BYTES = 32 << 20


def safe_relpath(path: str) -> str:
    """``path`` if it is a plain relative path (no ``..``, ``.``, empty parts or NUL)."""
    if not path or "\x00" in path or path.startswith("/"):
        raise ValueError(f"invalid file path {path!r}")
    parts = path.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"invalid file path {path!r}")
    return path


def write_files(files: list[wire.JSONObject]) -> None:
    """Write the request's files (``{"path", "data": base64, "mode"}``) under the workdir."""
    dirfd = os.open(WORKDIR, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for spec in files:
            rel = safe_relpath(spec["path"])
            parent = dirfd
            opened = []
            try:
                # Walk directory by directory with O_NOFOLLOW: never follow a link.
                for part in rel.split("/")[:-1]:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(part, 0o755, dir_fd=parent)
                    parent = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent)
                    opened.append(parent)
                name = rel.rsplit("/", 1)[-1]
                flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
                fd = os.open(name, flags, int(spec.get("mode", 0o644)) & 0o777, dir_fd=parent)
                try:
                    data = memoryview(binascii.a2b_base64(spec.get("data", "")))
                    while data:
                        data = data[os.write(fd, data) :]
                finally:
                    os.close(fd)
            finally:
                for fd_ in opened:
                    os.close(fd_)
    finally:
        os.close(dirfd)


def read_file(path: str) -> bytes:
    """A workdir file's bytes; never follows a symlink anywhere on the way."""
    parts = safe_relpath(path).split("/")
    fd = os.open(WORKDIR, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in parts[:-1]:
            next_fd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = next_fd
        file_fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
    finally:
        os.close(fd)
    try:
        import stat

        info = os.fstat(file_fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"{path!r} is not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise ValueError(f"{path!r} is {info.st_size} bytes, over the {MAX_FILE_BYTES} byte cap")
        chunks = []
        while chunk := os.read(file_fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(file_fd)
