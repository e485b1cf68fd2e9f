"""The runner's workdir (``sandbox_runner.workspace``): paths checked, files written and read, links never followed."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path
from types import ModuleType

import pytest


def file_spec(path: str, data: bytes = b"data", mode: int = 0o644) -> dict:
    return {"path": path, "data": base64.b64encode(data).decode(), "mode": mode}


# ------------------------------------------------------------------ safe_relpath


@pytest.mark.parametrize("path", ["main.py", "a/b/c.txt", ".hidden", "a..b", "x" * 300])
def test_safe_relpath_accepts(runner: ModuleType, path: str) -> None:
    assert runner.workspace.safe_relpath(path) == path


@pytest.mark.parametrize(
    "path", ["", "/etc/passwd", "..", "../x", "a/../b", ".", "./a", "a/./b", "a//b", "a/", "a\x00b", "/"]
)
def test_safe_relpath_rejects(runner: ModuleType, path: str) -> None:
    with pytest.raises(ValueError, match="invalid file path"):
        runner.workspace.safe_relpath(path)


# ------------------------------------------------------------------- write_files


def test_write_files_creates_nested_files_with_modes(runner: ModuleType, workdir: Path) -> None:
    old_umask = os.umask(0o022)
    try:
        runner.workspace.write_files(
            [
                file_spec("main.py", b"print(1)\n"),
                file_spec("bin/run.sh", b"#!/bin/sh\n", 0o755),
                file_spec("deep/er/still/secret.txt", b"\x00\xff", 0o600),
                file_spec("empty", b""),
                {"path": "defaults.txt", "data": base64.b64encode(b"d").decode()},
                file_spec("setuid", b"x", 0o4755),
            ]
        )
    finally:
        os.umask(old_umask)
    assert (workdir / "main.py").read_bytes() == b"print(1)\n"
    assert (workdir / "bin" / "run.sh").read_bytes() == b"#!/bin/sh\n"
    assert (workdir / "deep" / "er" / "still" / "secret.txt").read_bytes() == b"\x00\xff"
    assert (workdir / "empty").read_bytes() == b""

    def mode(name: str) -> int:
        return stat.S_IMODE((workdir / name).stat().st_mode)

    assert mode("main.py") == 0o644
    assert mode("bin/run.sh") == 0o755
    assert mode("deep/er/still/secret.txt") == 0o600
    assert mode("defaults.txt") == 0o644
    assert mode("setuid") == 0o755, "set-id bits are masked off"
    assert (workdir / "deep" / "er").is_dir()


def test_write_files_overwrites_an_existing_file(runner: ModuleType, workdir: Path) -> None:
    (workdir / "f").write_bytes(b"old content that is longer")
    runner.workspace.write_files([file_spec("f", b"new")])
    assert (workdir / "f").read_bytes() == b"new"


def test_write_files_large_file(runner: ModuleType, workdir: Path) -> None:
    blob = os.urandom(3 << 20)
    runner.workspace.write_files([file_spec("big.bin", blob)])
    assert (workdir / "big.bin").read_bytes() == blob


@pytest.mark.parametrize("path", ["../escape", "/abs", "a/../../escape"])
def test_write_files_refuses_bad_paths(runner: ModuleType, workdir: Path, path: str) -> None:
    with pytest.raises(ValueError):
        runner.workspace.write_files([file_spec(path)])
    assert not (workdir.parent / "escape").exists()


def test_write_files_does_not_follow_a_symlinked_file(runner: ModuleType, workdir: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"precious")
    (workdir / "link").symlink_to(outside)
    with pytest.raises(ValueError, match="'link' is a symbolic link"):
        runner.workspace.write_files([file_spec("link", b"overwritten")])
    assert outside.read_bytes() == b"precious"
    assert (workdir / "link").is_symlink()


def test_write_files_does_not_follow_a_symlinked_directory(runner: ModuleType, workdir: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_bytes(b"precious")
    (workdir / "dir").symlink_to(outside, target_is_directory=True)
    for name in ("victim", "new-file"):
        with pytest.raises(OSError):
            runner.workspace.write_files([file_spec(f"dir/{name}", b"overwritten")])
    with pytest.raises(OSError):
        runner.workspace.write_files([file_spec("dir/sub/new-file", b"overwritten")])
    assert sorted(p.name for p in outside.iterdir()) == ["victim"]
    assert (outside / "victim").read_bytes() == b"precious"


def test_write_files_does_not_follow_a_dangling_symlink(runner: ModuleType, workdir: Path, tmp_path: Path) -> None:
    target = tmp_path / "would-be-created"
    (workdir / "dangling").symlink_to(target)
    with pytest.raises(ValueError, match="'dangling' is a symbolic link"):
        runner.workspace.write_files([file_spec("dangling", b"x")])
    assert not target.exists()


@pytest.mark.parametrize(
    ("paths", "error"),
    [
        (["a", "a/b"], NotADirectoryError),
        (["a/b", "a"], IsADirectoryError),
        (["main.py", "main.py/x"], NotADirectoryError),
    ],
)
def test_write_files_fails_when_a_path_is_both_file_and_directory(
    runner: ModuleType, workdir: Path, paths: list[str], error: type[OSError]
) -> None:
    """The request layer lets these through (see test_service); the runner then fails the run."""
    with pytest.raises(error):
        runner.workspace.write_files([file_spec(p) for p in paths])


def test_write_files_does_not_leak_descriptors(runner: ModuleType, workdir: Path) -> None:
    fds_before = set(os.listdir("/proc/self/fd"))
    runner.workspace.write_files([file_spec(f"d{i}/e/f.txt") for i in range(20)])
    with pytest.raises(OSError):
        runner.workspace.write_files([file_spec("d0/e/f.txt/bad")])
    assert set(os.listdir("/proc/self/fd")) == fds_before
