"""The runner's artifacts (``sandbox_runner.artifacts``): what is collected, in what frames, within what caps.

The frames are captured from ``wire`` and checked by the host's own intake, as a run would send them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import ModuleType

import pytest

from sandbox.engine import ArtifactRules
from sandbox.engine.collected import ArtifactIntake


@pytest.fixture
def frames(runner: ModuleType, monkeypatch: pytest.MonkeyPatch) -> list[tuple[bytes, bytes]]:
    sent: list[tuple[bytes, bytes]] = []
    monkeypatch.setattr(runner.wire, "write_frame", lambda kind, payload: sent.append((kind, bytes(payload))))
    return sent


def write(path: Path, data: bytes = b"x") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def through_intake(frames: list[tuple[bytes, bytes]], rules: ArtifactRules) -> list:
    intake = ArtifactIntake(rules)
    for kind, payload in frames:
        intake.header(payload) if kind == b"A" else intake.data(payload)
    return intake.finish()


@pytest.mark.parametrize(
    ("glob", "matches", "misses"),
    [
        ("*.csv", ["a.csv"], ["d/a.csv", "a.csvx"]),
        ("**/*.csv", ["a.csv", "d/a.csv", "d/e/a.csv"], ["a.txt"]),
        ("results/**", ["results/a", "results/b/c"], ["results", "other/a"]),
        ("data?.txt", ["data1.txt"], ["data10.txt", "data/.txt"]),
        ("[ab].txt", ["a.txt", "b.txt"], ["c.txt"]),
        ("[!ab].txt", ["c.txt"], ["a.txt", "/.txt"]),
        ("a+b(1).txt", ["a+b(1).txt"], ["aab1.txt"]),
    ],
)
def test_globs_match_workdir_relative_paths(runner: ModuleType, glob: str, matches: list, misses: list) -> None:
    pattern = runner.artifacts.translate(glob)
    assert all(pattern.match(m) for m in matches), matches
    assert not any(pattern.match(m) for m in misses), misses


def test_out_and_glob_matches_are_sent_sorted_with_their_bytes(runner, workdir, frames) -> None:
    write(workdir / "out" / "b.txt", b"bbb")
    write(workdir / "out" / "a" / "deep.bin", bytes(range(10)))
    write(workdir / "r.csv", b"1,2")
    write(workdir / "main.py", b"print(1)")
    runner.artifacts.Collector({"globs": ["*.csv"]}).collect()
    got = through_intake(frames, ArtifactRules(("*.csv",)))
    assert [(a.name, a.data) for a in got] == [
        ("out/a/deep.bin", bytes(range(10))),
        ("out/b.txt", b"bbb"),
        ("r.csv", b"1,2"),
    ]


def test_no_out_directory_and_no_globs_sends_nothing(runner, workdir, frames) -> None:
    write(workdir / "main.py")
    runner.artifacts.collect({"artifacts": {}})
    runner.artifacts.collect({})  # no artifacts part at all (tests mode)
    assert frames == []


def test_an_out_link_is_never_followed(runner, workdir, frames, tmp_path) -> None:
    outside = tmp_path / "outside"
    write(outside / "secret", b"s")
    os.symlink(outside, workdir / "out")
    runner.artifacts.Collector({"globs": []}).collect()
    assert frames == []


def test_links_fifos_and_caps_are_listed_as_skipped(runner, workdir, frames, tmp_path) -> None:
    write(tmp_path / "secret", b"secret")
    (workdir / "out").mkdir()
    os.symlink(tmp_path / "secret", workdir / "out" / "l1")
    os.symlink(tmp_path, workdir / "out" / "l2")
    os.mkfifo(workdir / "out" / "pipe")
    for i in range(3):
        write(workdir / "out" / f"f{i}", b"y" * 10)
    write(workdir / "out" / "a-big", b"z" * 30)
    runner.artifacts.Collector({"max_files": 2, "max_bytes": 25}).collect()
    got = {a.name: a for a in through_intake(frames, ArtifactRules(max_files=2, max_bytes=25))}
    assert got["out/l1"].skipped == got["out/l2"].skipped == "a symbolic link"
    assert got["out/pipe"].skipped == "not a regular file"
    assert got["out/f0"].data == got["out/f1"].data == b"y" * 10
    assert "2 files" in got["out/f2"].skipped and "25 bytes" in got["out/a-big"].skipped
    assert all(b"secret" not in payload for _, payload in frames)


def test_a_huge_tree_stops_the_search_and_says_so(runner, workdir, frames) -> None:
    for i in range(50):
        write(workdir / "junk" / f"{i}.txt")
    runner.artifacts.Collector({"globs": ["**/*.csv"], "max_entries": 20}).collect()
    headers = [json.loads(p) for k, p in frames if k == b"A"]
    assert headers == [{"name": "", "size": 0, "skipped": headers[0]["skipped"]}]
    assert "after 20 workdir entries" in headers[0]["skipped"]
    got = through_intake(frames, ArtifactRules())
    assert got[0].name == "*" and got[0].skipped


def test_a_session_sends_only_what_is_new_or_changed(runner, workdir, frames) -> None:
    write(workdir / "out" / "given.txt", b"from the caller")
    collector = runner.artifacts.Collector({})
    collector.mark_seen()
    collector.collect()
    assert frames == []
    write(workdir / "out" / "one.txt", b"1")
    collector.collect()
    write(workdir / "out" / "two.txt", b"2")
    os.utime(workdir / "out" / "one.txt", ns=(1, 1))  # changed: sent again
    collector.collect()
    names = [json.loads(p)["name"] for k, p in frames if k == b"A"]
    assert names == ["out/one.txt", "out/one.txt", "out/two.txt"]


def test_names_that_are_not_utf8_or_have_control_characters_are_skipped_and_shown_printable(
    runner, workdir, frames
) -> None:
    out = workdir / "out"
    out.mkdir()
    (out / "ok.txt").write_bytes(b"fine")
    os.close(os.open(os.path.join(os.fsencode(out), b"bad-\xff.txt"), os.O_CREAT | os.O_WRONLY, 0o644))
    (out / "two\nlines\x1b[31m.txt").write_bytes(b"x")
    (out / "three\rlines.txt").write_bytes(b"y")
    runner.artifacts.Collector({}).collect()
    got = {a.name: a for a in through_intake(frames, ArtifactRules())}
    assert got["out/ok.txt"].data == b"fine"
    assert got["out/bad-\ufffd.txt"].skipped == "a name that is not UTF-8"
    assert got["out/two\ufffdlines\ufffd[31m.txt"].skipped == "a name with control characters"
    assert got["out/three\ufffdlines.txt"].skipped == "a name with control characters"
    assert all(name.isprintable() for name in got)
