"""The CLI's result cache in a directory: entries outlive the process, expire, stay within bounds."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from sandbox.cache import CacheUnavailable, build_result_cache
from sandbox.cache.disk import DirectoryResults
from sandbox.config import Settings

pytestmark = pytest.mark.anyio


async def test_an_entry_is_read_back_by_another_store_on_the_same_directory(tmp_path: Path) -> None:
    await DirectoryResults(tmp_path / "c", 10, 1000).put("k", b"data\nwith lines", 60)
    assert await DirectoryResults(tmp_path / "c", 10, 1000).get("k") == b"data\nwith lines"
    assert await DirectoryResults(tmp_path / "c", 10, 1000).get("other") is None
    assert (tmp_path / "c").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "c" / "k").stat().st_mode & 0o777 == 0o600
    assert [p.name for p in (tmp_path / "c").iterdir()] == ["k"]  # no partial file left


async def test_an_expired_or_foreign_entry_is_dropped(tmp_path: Path) -> None:
    store = DirectoryResults(tmp_path, 10, 1000)
    await store.put("k", b"x", 0.05)
    time.sleep(0.08)
    assert await store.get("k") is None and not (tmp_path / "k").exists()
    (tmp_path / "junk").write_bytes(b"not a time\nx")
    assert await store.get("junk") is None and not (tmp_path / "junk").exists()


async def test_the_oldest_entries_go_past_the_bounds(tmp_path: Path) -> None:
    store = DirectoryResults(tmp_path, 2, 1000)
    for index, key in enumerate("abc"):
        await store.put(key, b"x", 60)
        os.utime(tmp_path / key, (1000 + index, 1000 + index))  # a, b, c: oldest first, whatever the clock
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b", "c"]
    small = DirectoryResults(tmp_path / "s", 100, 64)
    await small.put("a", b"x" * 30, 60)
    os.utime(tmp_path / "s" / "a", (1000, 1000))
    await small.put("b", b"y" * 30, 60)  # with its expiry line each is over 32 bytes: a goes
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["b"]
    await small.put("huge", b"z" * 100, 60)
    assert await small.get("huge") is None


async def test_a_directory_that_cannot_be_written_is_unavailable(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("a file where the directory should be")
    with pytest.raises(CacheUnavailable):
        await DirectoryResults(blocked / "c", 10, 1000).put("k", b"x", 60)


def test_the_cli_gets_the_directory_and_a_server_its_memory(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path)
    on_disk = build_result_cache(settings, on_disk=True).store
    assert isinstance(on_disk, DirectoryResults) and on_disk.directory == tmp_path / "result-cache"
    assert type(build_result_cache(settings).store).__name__ == "MemoryResults"
    assert build_result_cache(settings.model_copy(update={"result_cache_ttl_s": 0})).store is None
