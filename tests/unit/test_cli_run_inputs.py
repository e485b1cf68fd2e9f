"""`sandbox run`'s inputs: the program (FILE, -, -c), --file, --env, --stdin; findings in the user's names;
the status line. Most tests run the service on the FakeBackend; those marked ``docker`` run the real engine."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from typer.testing import CliRunner

import sandbox.cli
import sandbox.service
from sandbox.cache import ResultCache
from sandbox.cli import app, ending
from sandbox.config import Settings
from sandbox.engine import FakeBackend, ImageCatalog, RunFile, RunOutcome, RunSpec
from sandbox.engine.hardening import LABEL_OWNER
from sandbox.models import MAX_ENV, ExecutionResult, Status, TestCaseResult, TestSummary
from sandbox.service import ExecutionService
from sandbox.validation import PolicySet
from tests.docker_fixtures import SESSION_OWNER, docker_client  # noqa: F401  (the Docker tests' fixture)

OK = RunOutcome(status=Status.OK, exit_code=0)


def flat(text: str) -> str:
    """Rich wraps usage errors in a box at 80 columns; compare with the box and whitespace removed."""
    return " ".join(text.replace("│", " ").split())


class Runs:
    """Replaces build_service with one on a FakeBackend that records each spec and answers ``outcome``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, outcome: RunOutcome = OK) -> None:
        self.specs: list[RunSpec] = []

        def handler(spec: RunSpec) -> RunOutcome:
            self.specs.append(spec)
            return outcome

        def build_service(
            settings: Settings, *, warm: bool = True, results: ResultCache | None = None
        ) -> ExecutionService:
            policies = PolicySet(settings.policies_dir, settings.default_policy)
            catalog = ImageCatalog(settings.images_dir)
            return ExecutionService(settings, FakeBackend(handler), catalog, policies, warm=warm, results=results)

        monkeypatch.setattr(sandbox.service, "build_service", build_service)

    @property
    def spec(self) -> RunSpec:
        [spec] = self.specs
        return spec

    def extra_files(self) -> dict[str, bytes]:
        """The workdir's files besides the program."""
        return {f.path: f.data for f in self.spec.files[1:]}


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner()


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> Runs:
    monkeypatch.setattr(sandbox.cli, "_ensure_image", lambda settings, language: None)  # no Docker here
    return Runs(monkeypatch)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Relative paths on the command line are relative to here."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def usage_error(result: object, *words: str) -> None:
    """Exit 2 with click's usage line, and every word in the message."""
    assert getattr(result, "exit_code", None) == 2, getattr(result, "output", "")
    output = flat(getattr(result, "output", ""))
    assert "Usage: " in output
    for word in words:
        assert word in output, output


# ------------------------------------------------------------------ the program: FILE, -, -c


def test_c_runs_inline_code_as_python_with_the_arguments_after_dashes(cli: CliRunner, runs: Runs) -> None:
    result = cli.invoke(app, ["run", "-c", "import sys; print(sys.argv)", "--", "one", "-two"])
    assert result.exit_code == 0, result.output
    assert runs.spec.files[0] == RunFile("main.py", b"import sys; print(sys.argv)")
    assert runs.spec.argv == ("python3", "main.py", "one", "-two")
    assert runs.spec.stdin == b""  # the program's stdin stays empty without --stdin


def test_c_takes_a_language(cli: CliRunner, runs: Runs) -> None:
    assert cli.invoke(app, ["run", "-l", "bash", "-c", "echo hi"]).exit_code == 0
    assert runs.spec.argv[:2] == ("bash", "main.sh") and runs.spec.files[0].data == b"echo hi"


def test_dash_reads_the_program_from_stdin(cli: CliRunner, runs: Runs) -> None:
    result = cli.invoke(app, ["run", "-", "--", "arg"], input="print(2)\n")
    assert result.exit_code == 0, result.output
    assert runs.spec.files[0] == RunFile("main.py", b"print(2)\n")
    assert runs.spec.argv == ("python3", "main.py", "arg") and runs.spec.stdin == b""


def test_a_file_keeps_taking_arguments_without_dashes(cli: CliRunner, runs: Runs, workdir: Path) -> None:
    (workdir / "prog.py").write_text("print(1)")
    assert cli.invoke(app, ["run", "prog.py", "one", "two"]).exit_code == 0
    assert runs.spec.argv == ("python3", "main.py", "one", "two")


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["run"], ["give the program: FILE, - (read from stdin) or -c CODE"]),
        (["run", "-c", "print(1)", "prog.py"], ["-c CODE and 'prog.py' both name a program", "after --"]),
        (["run", "-c", "print(1)", "-"], ["-c CODE and '-' both name a program"]),
        (["run", "-c", "print(1)", "arg", "--", "more"], ["both name a program"]),
        (["run", "missing.py"], ["file 'missing.py' does not exist"]),
        (["run", "."], ["'.' is a directory"]),
    ],
)
def test_exactly_one_program(cli: CliRunner, runs: Runs, workdir: Path, argv: list[str], words: list[str]) -> None:
    (workdir / "prog.py").write_text("print(1)")
    usage_error(cli.invoke(app, argv), *words)
    assert runs.specs == [], "nothing may run"


def test_a_program_on_stdin_must_be_utf8(cli: CliRunner, runs: Runs) -> None:
    result = cli.invoke(app, ["run", "-"], input=b"print('\xff')")
    assert result.exit_code == 2
    assert "rejected: <stdin> is not UTF-8 text" in flat(result.stderr)


def test_stdin_dash_feeds_this_stdin_to_a_file_or_inline_program(cli: CliRunner, runs: Runs) -> None:
    result = cli.invoke(app, ["run", "-c", "print(input())", "--stdin", "-"], input="typed\n")
    assert result.exit_code == 0, result.output
    assert runs.spec.stdin == b"typed\n"


def test_stdin_file_feeds_a_program_read_from_stdin(cli: CliRunner, runs: Runs, workdir: Path) -> None:
    (workdir / "in.txt").write_text("4 5\n")
    result = cli.invoke(app, ["run", "-", "--stdin", "in.txt"], input="print(input())")
    assert result.exit_code == 0, result.output
    assert runs.spec.files[0].data == b"print(input())" and runs.spec.stdin == b"4 5\n"


def test_stdin_cannot_carry_both_the_program_and_its_input(cli: CliRunner, runs: Runs) -> None:
    usage_error(cli.invoke(app, ["run", "-", "--stdin", "-"], input="print(1)"), "'--stdin'", "carries the program")
    assert runs.specs == []


def test_a_missing_stdin_file_or_a_directory_is_a_usage_error(cli: CliRunner, runs: Runs, workdir: Path) -> None:
    usage_error(cli.invoke(app, ["run", "-c", "pass", "--stdin", "nowhere.txt"]), "'--stdin'", "does not exist")
    usage_error(cli.invoke(app, ["run", "-c", "pass", "--stdin", "."]), "'--stdin'", "'.' is a directory")
    assert runs.specs == []


def test_a_pipe_is_a_fine_stdin_file(cli: CliRunner, runs: Runs, workdir: Path) -> None:
    """``--stdin <(command)`` names a pipe, not a regular file."""
    fifo = workdir / "pipe"
    os.mkfifo(fifo)
    writer = threading.Thread(target=fifo.write_bytes, args=(b"piped\n",))
    writer.start()
    result = cli.invoke(app, ["run", "-c", "print(input())", "--stdin", str(fifo)])
    writer.join(timeout=10)
    assert result.exit_code == 0, result.output
    assert runs.spec.stdin == b"piped\n"


# ------------------------------------------------------------------ --file


def test_a_file_lands_at_its_basename_byte_for_byte(cli: CliRunner, runs: Runs, workdir: Path) -> None:
    data = bytes(range(256)) * 4  # every byte value: not UTF-8
    (workdir / "assets").mkdir()
    (workdir / "assets" / "blob.bin").write_bytes(data)
    (workdir / "notes.txt").write_text("héllo\r\n")
    result = cli.invoke(app, ["run", "-c", "pass", "--file", "assets/blob.bin", "--file", "notes.txt"])
    assert result.exit_code == 0, result.output
    assert runs.extra_files() == {"blob.bin": data, "notes.txt": "héllo\r\n".encode()}


def test_a_file_goes_to_its_dest_or_into_a_dest_directory(cli: CliRunner, runs: Runs, workdir: Path) -> None:
    (workdir / "a.txt").write_text("A")
    (workdir / "b.txt").write_text("B")
    result = cli.invoke(app, ["run", "-c", "pass", "--file", "a.txt:in/x.txt", "--file", f"{workdir}/b.txt:data/"])
    assert result.exit_code == 0, result.output
    assert runs.extra_files() == {"in/x.txt": b"A", "data/b.txt": b"B"}


def test_a_path_with_a_colon_needs_no_dest(cli: CliRunner, runs: Runs, workdir: Path) -> None:
    (workdir / "a:b.txt").write_text("colon")
    assert cli.invoke(app, ["run", "-c", "pass", "--file", "a:b.txt"]).exit_code == 0
    assert runs.extra_files() == {"a:b.txt": b"colon"}


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("a.txt:/etc/passwd", ["file path '/etc/passwd' must be relative"]),
        ("a.txt:../up.txt", ["file path '../up.txt' must be relative"]),
        ("a.txt:x/../../up.txt", ["must be relative, without '.', '..'"]),
        ("a.txt:x//y", ["must be relative"]),
        ("a.txt:", ["DEST after ':' is empty"]),
        (":x.txt", ["give the local PATH before ':'"]),
        ("missing.txt", ["file 'missing.txt' does not exist"]),
        ("missing.txt:x.txt", ["file 'missing.txt' does not exist"]),
        ("sub", ["'sub' is a directory"]),
        ("a.txt:main.py", ["main.py is where the program itself goes"]),
    ],
)
def test_bad_files_are_usage_errors(cli: CliRunner, runs: Runs, workdir: Path, spec: str, words: list[str]) -> None:
    (workdir / "a.txt").write_text("A")
    (workdir / "sub").mkdir()
    usage_error(cli.invoke(app, ["run", "-c", "pass", "--file", spec]), "'--file'", *words)
    assert runs.specs == []


def test_two_files_at_one_place_are_refused(cli: CliRunner, runs: Runs, workdir: Path) -> None:
    for folder in ("one", "two"):
        (workdir / folder).mkdir()
        (workdir / folder / "data.txt").write_text(folder)
    result = cli.invoke(app, ["run", "-c", "pass", "--file", "one/data.txt", "--file", "two/data.txt"])
    usage_error(result, "two/data.txt: data.txt is also where --file one/data.txt goes")
    # with a DEST each, they are two files
    ok = cli.invoke(app, ["run", "-c", "pass", "--file", "one/data.txt", "--file", "two/data.txt:two.txt"])
    assert ok.exit_code == 0 and runs.extra_files() == {"data.txt": b"one", "two.txt": b"two"}


def test_a_file_over_the_request_cap_is_refused_unread(
    cli: CliRunner, runs: Runs, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SANDBOX_REQUEST_BYTES", "1000")  # the cap the service applies to code + files + stdin
    (workdir / "big.bin").write_bytes(b"x" * 1001)
    result = cli.invoke(app, ["run", "-c", "pass", "--file", "big.bin"])
    assert result.exit_code == 2
    assert "rejected: --file big.bin: over 1000 bytes, the server cap" in flat(result.stderr)
    assert runs.specs == []


def test_files_together_over_the_request_cap_are_refused(
    cli: CliRunner, runs: Runs, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SANDBOX_REQUEST_BYTES", "1000")
    for name in ("a.bin", "b.bin"):
        (workdir / name).write_bytes(b"x" * 600)
    result = cli.invoke(app, ["run", "-c", "pass", "--file", "a.bin", "--file", "b.bin"])
    assert result.exit_code == 2
    assert "rejected: --file: the files total 1200 bytes, over the server cap of 1000" in flat(result.stderr)
    # under the CLI's check, the service's own (code + files + stdin) still holds
    (workdir / "b.bin").write_bytes(b"x" * 390)
    result = cli.invoke(app, ["run", "-c", "pass", "--file", "a.bin", "--file", "b.bin", "--stdin", "a.bin"])
    assert result.exit_code == 2
    assert "code, files and stdin total 1594 bytes, over the server cap of 1000" in flat(result.stderr)
    assert runs.specs == []


def test_more_files_than_a_request_holds_are_refused(cli: CliRunner, runs: Runs, workdir: Path) -> None:
    names = [f"f{i}.txt" for i in range(257)]
    for name in names:
        (workdir / name).write_text("x")
    result = cli.invoke(app, ["run", "-c", "pass", *(arg for name in names for arg in ("--file", name))])
    assert result.exit_code == 2
    assert "rejected: files: List should have at most 256 items" in flat(result.stderr)
    assert runs.specs == []


# ------------------------------------------------------------------ --env


def test_env_reaches_the_program(cli: CliRunner, runs: Runs) -> None:
    result = cli.invoke(app, ["run", "-c", "pass", "--env", "FOO=bar", "--env", "EQ=a=b", "--env", "EMPTY="])
    assert result.exit_code == 0, result.output
    given = {"FOO": "bar", "EQ": "a=b", "EMPTY": ""}
    assert {name: runs.spec.env.get(name) for name in given} == given  # the language may add its own


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ("FOO", ["'FOO' is not NAME=VALUE"]),
        ("=value", ["is not NAME=VALUE"]),
        ("1FOO=x", ["'1FOO' is not a variable name"]),
        ("foo=x", ["'foo' is not a variable name"]),
        ("BAD-NAME=x", ["'BAD-NAME' is not a variable name"]),
        ("LD_PRELOAD=/x.so", ["LD_PRELOAD changes how programs start"]),
        ("PYTHONPATH=/x", ["PYTHONPATH changes how programs start"]),
        ("BASH_ENV=/x", ["BASH_ENV changes how programs start"]),
    ],
)
def test_bad_env_entries_are_usage_errors(cli: CliRunner, runs: Runs, entry: str, words: list[str]) -> None:
    usage_error(cli.invoke(app, ["run", "-c", "pass", "--env", entry]), "'--env'", *words)
    assert runs.specs == []


def test_env_twice_and_too_many_are_usage_errors(cli: CliRunner, runs: Runs) -> None:
    usage_error(cli.invoke(app, ["run", "-c", "pass", "--env", "A=1", "--env", "A=2"]), "A is given twice")
    many = [arg for i in range(MAX_ENV + 1) for arg in ("--env", f"V{i}=x")]
    usage_error(cli.invoke(app, ["run", "-c", "pass", *many]), f"at most {MAX_ENV} variables")
    big = ["--env", "A=" + "x" * (40 << 10)]
    usage_error(cli.invoke(app, ["run", "-c", "pass", *big]), "the variables take more than 32 KiB")
    assert runs.specs == []


def test_a_refused_env_never_echoes_its_value(cli: CliRunner, runs: Runs) -> None:
    result = cli.invoke(app, ["run", "-c", "pass", "--env", "bad-name=hunter2-token"])
    assert result.exit_code == 2 and "hunter2" not in result.output


# ------------------------------------------------------------------ findings name the user's file


def test_a_denial_names_the_users_file(cli: CliRunner, runs: Runs, workdir: Path) -> None:
    (workdir / "myscript.py").write_text("x = 1\nimport subprocess\n")
    result = cli.invoke(app, ["run", "myscript.py"])
    assert result.exit_code == 2
    out = flat(result.stderr)
    assert "myscript.py:2:0: deny import.denied" in out
    assert "validation_rejected: myscript.py:2:0: import of module 'subprocess' is denied" in out
    assert "main.py" not in result.stderr
    assert "    import subprocess\n    ^" in result.stderr  # the source line is still found


@pytest.mark.parametrize(
    ("argv", "stdin", "name"),
    [(["-c", "import socket"], None, "<string>"), (["-"], "import socket", "<stdin>")],
)
def test_inline_and_stdin_programs_have_pythons_names(
    cli: CliRunner, runs: Runs, argv: list[str], stdin: str | None, name: str
) -> None:
    result = cli.invoke(app, ["run", *argv], input=stdin)
    assert result.exit_code == 2
    assert f"{name}:1:0: deny import.denied" in flat(result.stderr)
    assert f"validation_rejected: {name}:1:0:" in flat(result.stderr)


def test_a_syntax_error_names_the_inline_program(cli: CliRunner, runs: Runs) -> None:
    result = cli.invoke(app, ["run", "-c", "def broken(:"])
    assert result.exit_code == 2
    assert "syntax_error: <string>:1:" in flat(result.stderr) and "main.py" not in result.stderr


def test_a_denied_extra_file_is_named_by_its_local_path(cli: CliRunner, runs: Runs, workdir: Path) -> None:
    (workdir / "lib").mkdir()
    (workdir / "lib" / "helper.py").write_text("import subprocess\n")
    result = cli.invoke(app, ["run", "-c", "import helper", "--file", "lib/helper.py:helper.py"])
    assert result.exit_code == 2
    assert "lib/helper.py:1:0: deny import.denied" in flat(result.stderr)
    assert "    import subprocess\n    ^" in result.stderr


def test_json_keeps_the_findings_shape(cli: CliRunner, runs: Runs, workdir: Path) -> None:
    (workdir / "myscript.py").write_text("import subprocess\n")
    result = cli.invoke(app, ["run", "--json", "myscript.py"])
    body = json.loads(result.stdout)
    assert body["findings"][0]["file"] == "main.py"  # what REST and MCP say: the file in the workdir
    assert body["message"].startswith("main.py:1:0:")


def test_validate_names_the_users_file(cli: CliRunner, runs: Runs, workdir: Path) -> None:
    (workdir / "myscript.py").write_text("import subprocess\n")
    result = cli.invoke(app, ["validate", "myscript.py"])
    assert result.exit_code == 2
    assert "myscript.py:1:0: deny import.denied" in flat(result.stderr) and "main.py" not in result.stderr


# ------------------------------------------------------------------ the status line


@pytest.mark.parametrize(
    ("result", "shown"),
    [
        (ExecutionResult(status=Status.RUNTIME_ERROR, exit_code=3), "exit=3 "),
        (ExecutionResult(status=Status.OK, exit_code=0), "exit=0 "),
        (ExecutionResult(status=Status.TIMEOUT, signal=9), "signal=9 (SIGKILL) "),
        (ExecutionResult(status=Status.KILLED, signal=40), "signal=40 "),  # real-time: no name
        (ExecutionResult(status=Status.MEMORY_EXCEEDED), ""),
    ],
)
def test_ending(result: ExecutionResult, shown: str) -> None:
    assert ending(result) == shown


@pytest.mark.parametrize(
    ("outcome", "line"),
    [
        (RunOutcome(status=Status.TIMEOUT, signal=9, message="too slow"), "timeout signal=9 (SIGKILL) wall="),
        (RunOutcome(status=Status.MEMORY_EXCEEDED, message="oom"), "memory_exceeded wall="),
        (RunOutcome(status=Status.RUNTIME_ERROR, exit_code=3), "runtime_error exit=3 wall="),
    ],
)
def test_the_status_line_never_says_exit_none(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch, outcome: RunOutcome, line: str
) -> None:
    monkeypatch.setattr(sandbox.cli, "_ensure_image", lambda settings, language: None)
    Runs(monkeypatch, outcome)
    result = cli.invoke(app, ["run", "-c", "pass"])
    assert line in flat(result.stderr)
    assert "None" not in result.stderr


# ------------------------------------------------------------------ --tests with the new inputs


@pytest.mark.parametrize(("argv", "stdin"), [(["-c", "print(input())"], None), (["-"], "print(input())")])
def test_tests_mode_takes_inline_and_stdin_programs_with_files_and_env(
    cli: CliRunner, workdir: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str], stdin: str | None
) -> None:
    monkeypatch.setattr(sandbox.cli, "_ensure_image", lambda settings, language: None)
    case = TestCaseResult(index=0, status=Status.OK, passed=True, exit_code=0)
    runs = Runs(
        monkeypatch,
        RunOutcome(status=Status.OK, exit_code=0, tests=[case], summary=TestSummary(total=1, passed=1, failed=0)),
    )
    (workdir / "cases.json").write_text(json.dumps([{"stdin": "7", "expected_stdout": "7"}]))
    (workdir / "data.txt").write_text("d")
    result = cli.invoke(app, ["run", *argv, "--tests", "cases.json", "--file", "data.txt", "--env", "K=v"], input=stdin)
    assert result.exit_code == 0, result.output
    assert runs.spec.files[0].data == b"print(input())" and runs.extra_files() == {"data.txt": b"d"}
    assert runs.spec.env["K"] == "v"
    assert runs.spec.tests is not None and [t.stdin for t in runs.spec.tests] == [b"7"]
    assert "case 0: passed" in result.stderr


# ------------------------------------------------------------------ the real engine


@pytest.fixture
def engine_env(
    docker_client: docker.DockerClient,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> Iterator[None]:
    """`sandbox run` in this process on the real engine, its containers labelled with this test's owner;
    the test fails if any is left."""
    owner = f"{SESSION_OWNER}-cli-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("SANDBOX_OWNER", owner)
    monkeypatch.setenv("SANDBOX_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("SANDBOX_POOL_SIZE", "0")
    yield
    left = docker_client.api.containers(all=True, filters={"label": f"{LABEL_OWNER}={owner}"})
    for container in left:
        docker_client.api.remove_container(container["Id"], force=True)
    assert not left, f"{request.node.nodeid} left containers {[c['Id'][:12] for c in left]}"


@pytest.mark.docker
def test_engine_inline_program_with_a_binary_file_env_and_arguments(
    cli: CliRunner, engine_env: None, workdir: Path
) -> None:
    data = bytes(range(256))
    (workdir / "blob.bin").write_bytes(data)
    code = (
        "import os, sys, hashlib\n"
        "print(hashlib.sha256(open('in/blob.bin', 'rb').read()).hexdigest())\n"
        "print(os.environ['GREETING'], sys.argv[1:])\n"
    )
    result = cli.invoke(app, ["run", "-c", code, "--file", "blob.bin:in/", "--env", "GREETING=a=b", "--", "x", "y"])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{hashlib.sha256(data).hexdigest()}\na=b ['x', 'y']\n"
    assert "ok exit=0" in flat(result.stderr)


@pytest.mark.docker
def test_engine_program_from_stdin_with_its_input_from_a_file(cli: CliRunner, engine_env: None, workdir: Path) -> None:
    (workdir / "in.txt").write_text("20 22\n")
    result = cli.invoke(app, ["run", "-", "--stdin", "in.txt"], input="print(sum(map(int, input().split())))\n")
    assert result.exit_code == 0, result.output
    assert result.stdout == "42\n"


@pytest.mark.docker
def test_engine_timeout_status_line_has_no_exit_none(cli: CliRunner, engine_env: None) -> None:
    result = cli.invoke(app, ["run", "-c", "while True: pass", "--timeout", "1"])
    assert result.exit_code == 124, result.output
    assert flat(result.stderr).startswith("timeout ")
    assert "exit=None" not in result.stderr and "None" not in result.stderr


@pytest.mark.docker
def test_engine_tests_mode_with_an_inline_program_and_a_file(cli: CliRunner, engine_env: None, workdir: Path) -> None:
    (workdir / "offset.txt").write_text("100")
    (workdir / "cases.json").write_text(
        json.dumps([{"stdin": "1", "expected_stdout": "101"}, {"stdin": "2", "expected_stdout": "999"}])
    )
    code = "print(int(input()) + int(open('offset.txt').read()))"
    result = cli.invoke(app, ["run", "-c", code, "--file", "offset.txt", "--tests", "cases.json"])
    assert result.exit_code == 1, result.output  # a case printed other output
    out = flat(result.stderr)
    assert "case 0: passed" in out and "case 1: failed" in out and "1/2 passed, 1 failed" in out


@pytest.mark.docker
def test_engine_artifacts_are_listed_and_saved_where_asked(cli: CliRunner, engine_env: None, workdir: Path) -> None:
    code = (
        "import matplotlib.pyplot as plt\nplt.plot([1, 2])\n"
        "open('data.csv', 'w').write('a,b\\n')\nopen('other.txt', 'w').write('no')\n"
    )
    result = cli.invoke(app, ["run", "-c", code, "-o", "*.csv", "--save", "got"])
    assert result.exit_code == 0, result.output
    assert (workdir / "got" / "data.csv").read_text() == "a,b\n"
    assert (workdir / "got" / "out" / "figure-1.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert not (workdir / "got" / "other.txt").exists()
    out = flat(result.stderr)
    assert "artifact data.csv (text/csv, 4 bytes) ->" in out and "artifact out/figure-1.png (image/png," in out
    listed = cli.invoke(app, ["run", "-c", "import os; os.mkdir('out'); open('out/x.txt', 'w').write('x')"])
    assert listed.exit_code == 0 and "artifact out/x.txt (text/plain, 1 bytes)" in flat(listed.stderr)
    assert "--save DIR" in listed.stderr
