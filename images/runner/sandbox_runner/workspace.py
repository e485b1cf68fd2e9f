"""The workdir: request paths checked, files written and read without following links.

The workdir is shared with the program, which may plant symlinks there (in a
session, between two requests). Every path is therefore relative, free of
``..``, and walked one directory at a time with ``O_NOFOLLOW``, so a link can
never send a write or a read outside the workdir.

Only regular files are read or written: the last part is opened with
``O_NOFOLLOW | O_NONBLOCK`` (a FIFO, a socket or a device can neither block
the runner on open nor feed it forever), checked with ``fstat`` and refused if
it is anything else. A read takes at most ``MAX_FILE_BYTES`` + 1 bytes from the
open file and refuses it past the cap: the size is never taken from a ``stat``
before the read, so a file that grows while it is read cannot outrun the cap.
"""

from __future__ import annotations

import binascii
import errno
import os

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at start-up
if TYPE_CHECKING:
    from . import wire

WORKDIR = os.environ.get("SANDBOX_WORKDIR", "/workspace")
#: The container's /tmp: emptied after a compile and between test cases (the host's tests move it).
TMP = os.environ.get("SANDBOX_TMP", "/tmp")
MAX_FILE_BYTES = 32 << 20
#: What the image puts in a fresh /tmp (matplotlib's font cache, built when the image was): copied in by
#: ``seed_tmp``, since /tmp is an empty tmpfs in every container and the image itself is read-only.
TMP_SEED = os.environ.get("SANDBOX_TMP_SEED", "/opt/sandbox/tmp-seed")


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
                    try:
                        os.mkdir(part, 0o755, dir_fd=parent)
                    except FileExistsError:
                        pass
                    parent = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent)
                    opened.append(parent)
                name = rel.rsplit("/", 1)[-1]
                fd = _open_regular(rel, name, parent, os.O_WRONLY | os.O_CREAT, int(spec.get("mode", 0o644)) & 0o777)
                try:
                    os.ftruncate(fd, 0)
                    os.set_blocking(fd, True)
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


def read_file(path: str, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """A workdir file's bytes; never follows a symlink anywhere on the way, refuses all but regular files.

    ``max_bytes``: a lower cap than ``MAX_FILE_BYTES`` (what is left of the artifacts' budget).
    """
    cap = min(max_bytes, MAX_FILE_BYTES)
    parts = safe_relpath(path).split("/")
    fd = os.open(WORKDIR, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in parts[:-1]:
            next_fd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = next_fd
        file_fd = _open_regular(path, parts[-1], fd, os.O_RDONLY)
    finally:
        os.close(fd)
    try:
        chunks: list[bytes] = []
        size = 0
        while size <= cap:
            try:
                chunk = os.read(file_fd, min(1 << 20, cap + 1 - size))
            except BlockingIOError:  # not for a regular file; refused rather than waited for
                raise ValueError(f"{path!r} is not a regular file") from None
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            size += len(chunk)
        raise ValueError(f"{path!r} is over the {cap} byte cap (or grew past it while it was read)")
    finally:
        os.close(file_fd)


def _open_regular(path: str, name: str, dir_fd: int, flags: int, mode: int = 0o644) -> int:
    """``name`` in ``dir_fd`` opened without following a link or blocking; refused unless a regular file."""
    import stat

    try:
        fd = os.open(name, flags | os.O_NOFOLLOW | os.O_NONBLOCK, mode, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ValueError(f"{path!r} is a symbolic link") from None
        if exc.errno in (errno.ENXIO, errno.EOPNOTSUPP):  # a socket, or a FIFO with no reader
            raise ValueError(f"{path!r} is not a regular file") from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ValueError(f"{path!r} is not a regular file")
    return fd


def seed_tmp() -> None:
    """Copy the image's ``TMP_SEED`` tree into /tmp (nothing of the program runs: a fresh container, or
    one just cleared). Best effort: a program finds its caches missing at worst, and rebuilds them."""
    if not os.path.isdir(TMP_SEED):
        return
    try:
        for directory, dirs, files in os.walk(TMP_SEED):
            rel = os.path.relpath(directory, TMP_SEED)
            target = TMP if rel == "." else os.path.join(TMP, rel)
            for name in dirs:
                try:
                    os.mkdir(os.path.join(target, name), 0o700)
                except FileExistsError:
                    pass
            for name in files:
                src = os.open(os.path.join(directory, name), os.O_RDONLY | os.O_NOFOLLOW)
                try:
                    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                    dst = os.open(os.path.join(target, name), flags, 0o600)
                    try:
                        while chunk := os.read(src, 1 << 20):
                            os.write(dst, chunk)
                    finally:
                        os.close(dst)
                finally:
                    os.close(src)
    except OSError:
        pass


def reset_tmp() -> None:
    """/tmp as a fresh container has it: emptied, then seeded (after a compile, between test cases)."""
    clear(TMP)
    seed_tmp()


#: How deep ``clear`` follows directories before it gives up (a tree deeper than this is the program's doing).
MAX_CLEAR_DEPTH = 64


def snapshot() -> list[tuple[str, int, bytes | bytearray | None]]:
    """Every directory and regular file of the workdir: (relative path, mode, bytes or None for a directory).

    What tests mode restores before each case. Links and special files are left out: a compiler
    makes neither, and the program of a case must not find another case's.
    """
    import stat

    found: list[tuple[str, int, bytes | bytearray | None]] = []
    pending = [""]
    while pending:
        rel = pending.pop()
        with os.scandir(os.path.join(WORKDIR, rel) if rel else WORKDIR) as entries:
            for entry in entries:
                path = f"{rel}/{entry.name}" if rel else entry.name
                info = entry.stat(follow_symlinks=False)
                if stat.S_ISDIR(info.st_mode):
                    found.append((path, stat.S_IMODE(info.st_mode), None))
                    pending.append(path)
                elif stat.S_ISREG(info.st_mode):
                    found.append((path, stat.S_IMODE(info.st_mode), _read_whole(path, info.st_size)))
    return found


def workdir_bytes() -> int:
    """The bytes of the workdir's regular files: what ``snapshot`` would hold (the host adds it to the
    run's memory limit in tests mode, where the runner keeps that copy)."""
    import stat

    total = 0
    for directory, _, files in os.walk(WORKDIR):  # does not follow links to directories
        for name in files:
            try:
                info = os.lstat(os.path.join(directory, name))
                if stat.S_ISREG(info.st_mode):
                    total += info.st_size
            except OSError:
                pass
    return total


def _read_whole(path: str, size: int) -> bytearray:
    """A workdir file's bytes, read into one buffer of its size (``read_file`` would hold it twice
    for a moment, which the run's memory limit would have to cover)."""
    fd = os.open(os.path.join(WORKDIR, path), os.O_RDONLY | os.O_NOFOLLOW)
    try:
        buffer = bytearray(size)
        with os.fdopen(fd, "rb", buffering=0, closefd=False) as f:
            got = f.readinto(memoryview(buffer))
            while got is not None and got < size:
                more = f.readinto(memoryview(buffer)[got:])
                if not more:
                    break
                got += more
        if got != size:
            raise ValueError(f"{path!r} changed while it was copied")
        return buffer
    finally:
        os.close(fd)


def restore(entries: list[tuple[str, int, bytes | bytearray | None]]) -> None:
    """Write ``snapshot()``'s entries back under the (cleared) workdir, parents before children."""
    dirfd = os.open(WORKDIR, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for path, mode, data in entries:
            if data is None:
                os.mkdir(path, mode | 0o700, dir_fd=dirfd)
        for path, mode, data in entries:
            if data is not None:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode, dir_fd=dirfd)
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view) :]
                finally:
                    os.close(fd)
        for path, mode, data in entries:
            if data is None and mode != mode | 0o700:
                os.chmod(path, mode, dir_fd=dirfd)
    finally:
        os.close(dirfd)


def clear(root: str) -> None:
    """Remove everything under ``root`` (not ``root`` itself), never following a link.

    Every process of the program is gone when this runs, so nothing changes under it. Directories
    the program made unwritable are made writable again (they are the sandbox user's); a tree
    deeper than ``MAX_CLEAR_DEPTH`` raises ``OSError``.
    """
    try:  # the workdir itself, if the program locked it (/tmp is root's)
        if os.lstat(root).st_uid == os.getuid():
            os.chmod(root, 0o700)
    except OSError:
        pass
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        _clear(fd, 0)
    finally:
        os.close(fd)


def _clear(dirfd: int, depth: int) -> None:
    try:  # /tmp is root's (sticky): the user's own entries can go anyway
        os.fchmod(dirfd, 0o700 | (os.fstat(dirfd).st_mode & 0o7777))
    except OSError:
        pass
    for name in os.listdir(dirfd):
        try:
            os.unlink(name, dir_fd=dirfd)
            continue
        except IsADirectoryError:
            pass
        except PermissionError as exc:  # Linux answers EISDIR, but a directory may also say EPERM
            if exc.errno != errno.EPERM:
                raise
        if depth >= MAX_CLEAR_DEPTH:
            raise OSError(errno.ELOOP, f"directories nested deeper than {MAX_CLEAR_DEPTH}")
        # A directory (unlink said so; nothing of the program runs to swap it): readable again first.
        try:
            os.chmod(name, 0o700, dir_fd=dirfd)
        except OSError:
            pass
        sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dirfd)
        try:
            _clear(sub, depth + 1)
        finally:
            os.close(sub)
        os.rmdir(name, dir_fd=dirfd)
