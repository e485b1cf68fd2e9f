"""The compile stage and tests mode of the runner (``build``, ``cases``, ``workspace`` snapshot/restore/clear),
and their frames on the host (``CompileReport``, ``CaseReport``, ``RunnerChannel``'s case order). No Docker.

The runner runs on the host through ``RUNNER_WRAPPER``, whose ``workspace.TMP`` (``/tmp`` in a container,
which the runner empties after a compile and between cases) is the test's own directory (``SANDBOX_TMP``):
the wrapper refuses to run with the host's /tmp.
"""

from __future__ import annotations

import base64
import errno
import json
import os
import socket
import stat
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from sandbox.engine import RunFile, RunSpec, TestInput
from sandbox.engine.channel import RunnerChannel, Stages
from sandbox.engine.docker import Container
from sandbox.engine.protocol import (
    CaseReport,
    CompileReport,
    Frame,
    ProtocolError,
    encode_request,
    normalise_output,
    output_digest,
)
from tests.unit.helpers import RUNNER_DIR, RUNNER_WRAPPER, make_limits, parse_frames, runner_argv

# ----------------------------------------------------------------------------- cases.normalise


@pytest.mark.parametrize(
    ("output", "seen"),
    [
        (b"", b""),
        (b"\n\n\n", b""),
        (b"a", b"a"),
        (b"a\n", b"a"),
        (b"a \t\nb  \n", b"a\nb"),
        (b"a\r\nb\r\n\r\n", b"a\nb"),
        (b"a\rb\n", b"a\rb"),  # a lone CR inside a line stays
        (b"  a\n\tb\n", b"  a\n\tb"),  # leading whitespace stays
        (b"a\n\n\nb\n\n", b"a\n\n\nb"),  # interior blank lines stay
        (b"a\n \n\t\n", b"a"),  # trailing lines of whitespace are blank lines
        (b"x\x00 \n", b"x\x00"),  # NUL is not whitespace
        (b"\xff\xfe \n", b"\xff\xfe"),  # not UTF-8: compared as bytes
    ],
)
def test_normalise(runner: ModuleType, output: bytes, seen: bytes) -> None:
    assert runner.cases.normalise(output) == seen


# ----------------------------------------------------------------------------- workspace snapshot/restore/clear


def tree(root: Path) -> dict[str, tuple[int, bytes | None]]:
    """Every entry under ``root``: relative path -> (mode, bytes; None for a directory; b'->target' for a link)."""
    found: dict[str, tuple[int, bytes | None]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            info = path.lstat()
            rel = str(path.relative_to(root))
            if stat.S_ISLNK(info.st_mode):
                found[rel] = (0, b"->" + os.readlink(path).encode())
            elif stat.S_ISDIR(info.st_mode):
                found[rel] = (stat.S_IMODE(info.st_mode), None)
            elif stat.S_ISREG(info.st_mode):
                found[rel] = (stat.S_IMODE(info.st_mode), path.read_bytes())
            else:
                found[rel] = (stat.S_IMODE(info.st_mode), b"special")
    return found


def build_workdir(work: Path, outside: Path) -> None:
    (work / "main").write_bytes(b"\x7fELF binary")
    (work / "main").chmod(0o755)
    (work / "main.c").write_bytes(b"int main() {}\n")
    (work / "data" / "deep").mkdir(parents=True)
    (work / "data" / "deep" / "in.txt").write_bytes(b"42")
    (work / "data" / "deep" / "in.txt").chmod(0o600)
    (work / "empty").mkdir(mode=0o700)
    (work / "locked").mkdir()
    (work / "locked" / "inside").write_bytes(b"kept")
    (work / "locked").chmod(0o555)
    outside.mkdir()
    (outside / "secret").write_bytes(b"not the workdir's")
    (work / "link").symlink_to(outside / "secret")
    (work / "dirlink").symlink_to(outside)
    os.mkfifo(work / "pipe")


def test_snapshot_keeps_files_and_directories_with_modes_and_leaves_links_and_fifos_out(
    runner: ModuleType, workdir: Path, tmp_path: Path
) -> None:
    build_workdir(workdir, tmp_path / "outside")
    saved = {path: (mode, data) for path, mode, data in runner.workspace.snapshot()}
    assert saved == {
        "main": (0o755, b"\x7fELF binary"),
        "main.c": (0o644, b"int main() {}\n"),
        "data": (0o755, None),
        "data/deep": (0o755, None),
        "data/deep/in.txt": (0o600, b"42"),
        "empty": (0o700, None),
        "locked": (0o555, None),
        "locked/inside": (0o644, b"kept"),
    }


def test_clear_then_restore_gives_back_the_snapshot_and_never_follows_a_link(
    runner: ModuleType, workdir: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    build_workdir(workdir, outside)
    saved = runner.workspace.snapshot()
    expected = {k: v for k, v in tree(workdir).items() if k not in ("link", "dirlink", "pipe")}
    # What a case might do: rewrite, delete, add.
    (workdir / "main.c").write_bytes(b"tampered")
    (workdir / "main").unlink()
    (workdir / "new").write_bytes(b"new")
    runner.workspace.clear(str(workdir))
    assert list(workdir.iterdir()) == []
    assert tree(outside) == {"secret": (0o644, b"not the workdir's")}, "a link's target is left alone"
    runner.workspace.restore(saved)
    assert tree(workdir) == expected


def test_restore_needs_a_cleared_workdir(runner: ModuleType, workdir: Path) -> None:
    (workdir / "a").write_bytes(b"1")
    saved = runner.workspace.snapshot()
    with pytest.raises(FileExistsError):  # O_EXCL: never writes through something the program left
        runner.workspace.restore(saved)


def as_nobody(action: Callable[[], None], root: Path) -> str:
    """Run ``action`` in ``root`` (its working directory) as uid/gid 65534, the container's user (root would
    bypass every permission), ``root``'s tree first given to it; '' if it returned, else the exception."""
    if os.geteuid() != 0:
        cwd = os.getcwd()
        os.chdir(root)
        try:
            action()
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"
        finally:
            os.chdir(cwd)
        return ""
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            os.lchown(Path(dirpath) / name, 65534, 65534)
    os.lchown(root, 65534, 65534)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        message = b""
        try:
            os.chdir(root)  # as root: the test's tmp_path above it is root's own
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            action()
        except BaseException as exc:
            message = f"{type(exc).__name__}: {exc}".encode() or b"?"
        os.write(write_end, message)
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        message = pipe.read()
    os.waitpid(pid, 0)
    return message.decode()


def test_clear_empties_directories_the_program_made_read_only(runner: ModuleType, workdir: Path) -> None:
    (workdir / "ro" / "sub").mkdir(parents=True)
    (workdir / "ro" / "sub" / "file").write_bytes(b"x")
    (workdir / "ro" / "sub").chmod(0o500)
    (workdir / "ro").chmod(0o555)
    workdir.chmod(0o500)
    assert as_nobody(lambda: runner.workspace.clear("."), workdir) == ""
    assert list(workdir.iterdir()) == []


@pytest.mark.parametrize("mode", [0o000, 0o300])
def test_clear_empties_directories_the_program_made_unreadable(runner: ModuleType, workdir: Path, mode: int) -> None:
    (workdir / "closed").mkdir()
    (workdir / "closed" / "file").write_bytes(b"x")
    (workdir / "closed").chmod(mode)
    assert as_nobody(lambda: runner.workspace.clear("."), workdir) == ""
    assert list(workdir.iterdir()) == []


def nest(root: Path, depth: int) -> None:
    """``depth`` directories inside each other under ``root``, a file at the bottom."""
    path = root.joinpath(*["d"] * depth)
    path.mkdir(parents=True)
    (path / "bottom").write_bytes(b"x")


def test_clear_follows_directories_down_to_the_depth_limit(runner: ModuleType, workdir: Path) -> None:
    assert runner.workspace.MAX_CLEAR_DEPTH == 64
    nest(workdir, 64)
    runner.workspace.clear(str(workdir))
    assert list(workdir.iterdir()) == []


def test_clear_refuses_a_tree_deeper_than_the_limit(runner: ModuleType, workdir: Path) -> None:
    nest(workdir, 65)
    with pytest.raises(OSError) as raised:
        runner.workspace.clear(str(workdir))
    assert raised.value.errno == errno.ELOOP
    assert "directories nested deeper than 64" in str(raised.value)


def test_clear_leaves_the_root_and_refuses_a_root_that_is_a_link(
    runner: ModuleType, workdir: Path, tmp_path: Path
) -> None:
    (workdir / "f").write_bytes(b"x")
    runner.workspace.clear(str(workdir))
    assert workdir.is_dir() and list(workdir.iterdir()) == []
    (tmp_path / "alias").symlink_to(workdir)
    with pytest.raises(OSError):
        runner.workspace.clear(str(tmp_path / "alias"))


# ----------------------------------------------------------------------------- the runner on the host

#: RUNNER_WRAPPER, with the container's /tmp (emptied after a compile and between cases) moved to $RUNNER_TMP.
WRAPPER = RUNNER_WRAPPER


def run_host(spec: RunSpec, tmp_path: Path) -> tuple[list[Frame], Path, Path]:
    """One request to the real runner on the host: its frames, its workdir and its 'tmp'."""
    assert "os.path.realpath(workspace.TMP)" in WRAPPER  # the wrapper refuses to empty the host's /tmp
    work, fake_tmp = tmp_path / "workspace", tmp_path / "tmp"
    work.mkdir()
    fake_tmp.mkdir()
    (fake_tmp / "compiler-cache").write_bytes(b"x")
    env = {"SANDBOX_WORKDIR": str(work), "SANDBOX_TMP": str(fake_tmp), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    done = subprocess.run(
        runner_argv(RUNNER_DIR, wrapper=WRAPPER),
        input=encode_request(spec),
        capture_output=True,
        env=env,
        timeout=30,
        check=False,
    )
    assert done.returncode in (0, 2), done.stderr
    return parse_frames(done.stdout), work, fake_tmp


def spec_of(
    argv: tuple[str, ...], compile_argv: tuple[str, ...] = (), tests=None, head_bytes: int = 4096, **limits: float
) -> RunSpec:
    return RunSpec(
        image="unused",
        mode="exec",
        argv=argv,
        files=(RunFile("main.src", b"source\n"),),
        limits=make_limits(**({"wall_time_s": 5.0} | limits)),
        compile_argv=compile_argv,
        tests=tests,
        head_bytes=head_bytes,
    )


def payload(frame: Frame) -> dict:
    return json.loads(frame.payload)


def test_a_failed_compile_sends_its_output_and_exit_code_and_no_run(runner: ModuleType, tmp_path: Path) -> None:
    compiler = ("sh", "-c", "echo 'main.src:1: error: nope' >&2; echo to stdout; exit 3")
    frames, _, fake_tmp = run_host(spec_of(("sh", "-c", "echo ran"), compiler), tmp_path)
    assert [f.kind for f in frames] == ["hello", "compile"], "no program output, no result after a failed compile"
    report = CompileReport.parse(frames[1].payload)
    assert report.report.exit_code == 3 and report.report.signal is None and not report.report.timed_out
    assert report.output == b"main.src:1: error: nope\nto stdout\n"
    assert report.output_truncated is False
    assert (fake_tmp / "compiler-cache").exists(), "/tmp is emptied only after a good compile"


def test_a_good_compile_then_the_program_runs_in_what_it_left(runner: ModuleType, tmp_path: Path) -> None:
    compiler = ("sh", "-c", "printf '#!/bin/sh\\necho ran with \"$@\"\\n' > prog && chmod +x prog && echo built")
    frames, work, fake_tmp = run_host(spec_of(("./prog", "x"), compiler), tmp_path)
    assert [f.kind for f in frames] == ["hello", "compile", "stdout", "result"]
    report = CompileReport.parse(frames[1].payload)
    assert report.report.exit_code == 0 and report.output == b"built\n"
    assert frames[2].payload == b"ran with x\n"
    assert payload(frames[3])["exit_code"] == 0
    assert list(fake_tmp.iterdir()) == [], "the compiler's /tmp is emptied before the program starts"
    assert (work / "prog").exists()


def test_the_compilers_output_is_kept_up_to_its_head(runner: ModuleType, tmp_path: Path) -> None:
    spec = spec_of(("true",), ("sh", "-c", "head -c 5000 /dev/zero | tr '\\0' e; exit 1"), stderr_bytes=1000)
    frames, _, _ = run_host(spec, tmp_path)
    report = CompileReport.parse(frames[1].payload)
    assert report.output == b"e" * 1000 and report.output_truncated
    assert report.report.output_limit == "stdout", "the compiler's output cap is the run's stderr cap"


def test_a_compile_past_its_wall_time_is_killed(runner: ModuleType, tmp_path: Path) -> None:
    frames, _, _ = run_host(spec_of(("true",), ("sleep", "30"), compile_wall_time_s=0.5), tmp_path)
    assert [f.kind for f in frames] == ["hello", "compile"]
    report = CompileReport.parse(frames[1].payload).report
    assert report.timed_out and report.signal == 9 and 400 <= report.wall_ms < 3000


CASE_SCRIPT = """
case "$1" in
  write) echo mine > left.txt; echo mine > "$RUNNER_TMP_SEEN/left.txt"; echo wrote ;;
  deep) mkdir -p "$(printf 'd/%.0s' $(seq 70))"; echo deep ;;
  cat) cat ;;
  *) ls -A . "$RUNNER_TMP_SEEN"; cat ;;
esac
"""


def cases_spec(tmp: Path, *cases: TestInput, head_bytes: int = 4096) -> RunSpec:
    spec = spec_of(("sh", "-c", CASE_SCRIPT, "sh"), tests=tuple(cases), head_bytes=head_bytes)
    return RunSpec(**{**spec.__dict__, "env": {"RUNNER_TMP_SEEN": str(tmp)}})


def test_each_case_gets_its_stdin_args_a_fresh_workdir_and_an_empty_tmp(runner: ModuleType, tmp_path: Path) -> None:
    spec = cases_spec(
        tmp_path / "tmp",
        TestInput(args=("write",), expected_stdout=b"wrote"),
        TestInput(
            stdin=b"from stdin\n",
            expected_stdout=b".:\nmain.src\n\n" + str(tmp_path / "tmp").encode() + b":\nfrom stdin",
        ),
        TestInput(stdin=b"x", expected_stdout=None),
    )
    frames, _, _ = run_host(spec, tmp_path)
    assert [f.kind for f in frames] == ["hello", "case", "case", "case", "result"]
    reports = [CaseReport.parse(f.payload) for f in frames[1:4]]
    assert [r.index for r in reports] == [0, 1, 2]
    assert [matched(r, t.expected_stdout) for r, t in zip(reports, spec.tests or (), strict=True)] == [True, True, None]
    assert reports[1].stdout.endswith(b"from stdin\n") and b"left.txt" not in reports[1].stdout
    assert payload(frames[-1]) == {"cases": 3}


def test_the_head_of_a_cases_output_is_sent_the_whole_compared(runner: ModuleType, tmp_path: Path) -> None:
    line = b"0123456789" * 10 + b"\n"
    spec = cases_spec(
        tmp_path / "tmp",
        TestInput(stdin=line * 50, args=("cat",), expected_stdout=line * 50),
        TestInput(stdin=line * 50, args=("cat",), expected_stdout=line * 49),
        head_bytes=64,
    )
    frames, _, _ = run_host(spec, tmp_path)
    reports = [CaseReport.parse(f.payload) for f in frames if f.kind == "case"]
    assert [matched(r, t.expected_stdout) for r, t in zip(reports, spec.tests or (), strict=True)] == [True, False]
    assert all(len(r.stdout) == 64 for r in reports), "head_bytes of stdout in the frame"
    assert json.loads(frames[1].payload)["stdout_bytes"] > 5000


def test_a_workdir_too_deep_to_reset_ends_the_cases_with_the_reason(runner: ModuleType, tmp_path: Path) -> None:
    spec = cases_spec(tmp_path / "tmp", TestInput(args=("deep",)), TestInput(), TestInput())
    frames, _, _ = run_host(spec, tmp_path)
    assert [f.kind for f in frames] == ["hello", "case", "result"]
    assert payload(frames[-1]) == {
        "cases": 1,
        "reset_failed": "the workdir could not be reset after case 0: [Errno 40] directories nested deeper than 64",
    }


# ----------------------------------------------------------------------------- the frames on the host

GOOD_FIELDS = {
    "exit_code": 0,
    "signal": None,
    "wall_ms": 5,
    "cpu_ms": 4,
    "peak_memory_bytes": 1 << 20,
    "stdout_truncated": False,
    "stderr_truncated": False,
    "timed_out": False,
    "output_limit": None,
    "cpu_limit_hit": False,
    "oom_killed": False,
}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def compile_frame(**fields: object) -> bytes:
    return json.dumps({**GOOD_FIELDS, "output": b64(b"warning\n"), "output_truncated": False, **fields}).encode()


def matched(report: CaseReport, expected: bytes | None) -> bool | None:
    """What the host makes of a case frame's digest: does the stdout match ``expected`` (None: not judged)."""
    return None if expected is None else report.stdout_sha256 == output_digest(expected)


def case_frame(**fields: object) -> bytes:
    body = {**GOOD_FIELDS, "index": 0, "stdout": b64(b"out"), "stderr": b64(b"err"), "stdout_bytes": 3}
    return json.dumps({**body, "stdout_sha256": output_digest(b"out"), **fields}).encode()


def test_compile_and_case_frames_parse() -> None:
    compiled = CompileReport.parse(compile_frame(exit_code=1, output_truncated=True))
    assert (compiled.output, compiled.output_truncated, compiled.report.exit_code) == (b"warning\n", True, 1)
    case = CaseReport.parse(case_frame(index=7))
    assert (case.index, case.stdout, case.stderr, matched(case, b"out\n\n")) == (7, b"out", b"err", True)
    assert case.report.peak_memory_bytes == 1 << 20


@pytest.mark.parametrize(
    "frame",
    [
        b"not json",
        b"[1, 2]",
        compile_frame(output="not base64!"),
        compile_frame(output=123),
        compile_frame(output_truncated="yes"),
        compile_frame(exit_code="0"),
        compile_frame(timed_out=1),
        compile_frame(output_limit="both"),
    ],
)
def test_a_malformed_compile_frame_is_a_protocol_error(frame: bytes) -> None:
    with pytest.raises(ProtocolError):
        CompileReport.parse(frame)


@pytest.mark.parametrize(
    "frame",
    [
        b"{",
        b"null",
        case_frame(index=-1),
        case_frame(index="0"),
        case_frame(index=True),
        case_frame(index=1.0),
        case_frame(index=None),
        case_frame(stdout="%%%"),
        case_frame(stderr=["a"]),
        case_frame(stdout_sha256=None),
        case_frame(stdout_sha256=1),
        case_frame(stdout_sha256="A" * 64),
        case_frame(stdout_sha256="0" * 63),
        case_frame(signal="KILL"),
        case_frame(oom_killed=None),
    ],
)
def test_a_malformed_case_frame_is_a_protocol_error(frame: bytes) -> None:
    with pytest.raises(ProtocolError):
        CaseReport.parse(frame)


def test_the_runners_own_frames_parse_on_the_host(runner: ModuleType, tmp_path: Path) -> None:
    """A round trip: what the real runner writes is what the host reads."""
    compiler = ("sh", "-c", "echo ok; : > prog")
    spec = spec_of(("sh", "-c", 'cat; echo " $1"', "sh"), compiler, tests=(TestInput(b"in", ("arg",), b"in arg"),))
    frames, _, _ = run_host(spec, tmp_path)
    assert [f.kind for f in frames] == ["hello", "compile", "case", "result"]
    assert CompileReport.parse(frames[1].payload).output == b"ok\n"
    case = CaseReport.parse(frames[2].payload)
    assert (case.index, case.stdout, matched(case, b"in arg"), case.report.exit_code) == (0, b"in arg\n", True, 0)


class _Engine:
    """Enough of an engine for a channel whose runner is the other end of a socket pair."""

    async def call(self, action: str, fn, *args):
        return fn(*args)

    api = None


def docker_stream(*frames: tuple[bytes, bytes]) -> bytes:
    """Runner frames as Docker's attach stream carries them (stdout, stream id 1)."""
    data = b"".join(kind + struct.pack(">I", len(body)) + body for kind, body in frames)
    return struct.pack(">BxxxI", 1, len(data)) + data


async def read_cases(*frames: tuple[bytes, bytes], total: int):
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    theirs.sendall(docker_stream(*frames))
    container = Container("c0ffee", ours, _Engine(), keepalive=theirs)  # type: ignore[arg-type]
    channel = RunnerChannel(container, kill_grace_s=0.5, answer_timeout_s=1)
    try:
        expected = (output_digest(b"out"),) * total
        return await channel.run(b"request", make_limits(wall_time_s=2), None, Stages(tests=expected))
    finally:
        ours.close()
        theirs.close()


@pytest.mark.anyio
async def test_the_channel_takes_cases_in_order_and_judges_them() -> None:
    outcome, _ = await read_cases(
        (b"T", case_frame(index=0)),
        (b"T", case_frame(index=1, stdout_sha256=output_digest(b"other"))),
        (b"R", b'{"cases": 2}'),
        total=2,
    )
    assert outcome.tests is not None and [c.passed for c in outcome.tests] == [True, False]
    assert outcome.summary is not None and (outcome.summary.passed, outcome.summary.failed) == (1, 1)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("indexes", "total"),
    [([1], 2), ([0, 0], 2), ([0, 2], 3), ([0, 1], 1)],
    ids=["skips the first", "repeats", "skips one", "past the last"],
)
async def test_a_case_frame_out_of_order_is_a_protocol_error(indexes: list[int], total: int) -> None:
    frames = [(b"T", case_frame(index=i)) for i in indexes]
    with pytest.raises(ProtocolError, match=r"case frame \d+ out of order"):
        await read_cases(*frames, (b"R", b'{"cases": 2}'), total=total)


@pytest.mark.parametrize(
    "output",
    [b"", b"a", b"a \n", b"a\r\nb\t\r\n\n\n", b" lead\n\ninner\n", b"\x0b\x0cx\x0c\n", b"\xff\xfe bytes \n"],
)
def test_the_host_normalises_outputs_as_the_runner_does(runner: ModuleType, output: bytes) -> None:
    """The expected output is normalised on the host, the program's in the runner: one rule."""
    assert runner.cases.normalise(output) == normalise_output(output)


def test_expected_outputs_never_reach_the_runner() -> None:
    """A program can read its runner's memory (a Python case is a fork of it): no answer is there."""
    spec = spec_of(("true",), tests=(TestInput(b"in", (), b"THE-ANSWER-42"), TestInput(b"", (), None)))
    message = encode_request(spec)
    assert b"THE-ANSWER-42" not in message and base64.b64encode(b"THE-ANSWER-42") not in message
    assert b"expected" not in message
