"""The `sandbox` command line, with the service on the FakeBackend (no containers)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import sandbox.cli
import sandbox.service
from sandbox.cache import ResultCache
from sandbox.cli import STATUS_EXIT_CODES, app, exit_code_for
from sandbox.config import Settings
from sandbox.engine import FakeBackend, ImageCatalog, RunOutcome, RunSpec
from sandbox.errors import CapacityUnavailable
from sandbox.models import ExecutionResult, Status
from sandbox.service import ExecutionService
from sandbox.validation import PolicySet

# ------------------------------------------------------------------ exit codes

EXPECTED = {
    Status.OK: 0,
    Status.RUNTIME_ERROR: 3,  # the program's own code
    Status.TIMEOUT: 124,
    Status.CPU_TIME_EXCEEDED: 152,
    Status.MEMORY_EXCEEDED: 137,
    Status.OUTPUT_LIMIT_EXCEEDED: 125,
    Status.KILLED: 128 + 15,
    Status.VALIDATION_REJECTED: 2,
    Status.SYNTAX_ERROR: 2,
    Status.COMPILE_ERROR: 65,
    Status.REJECTED: 2,
    Status.CAPACITY_UNAVAILABLE: 75,
    Status.INTERNAL_ERROR: 70,
}


def test_every_status_has_an_expected_exit_code() -> None:
    assert set(EXPECTED) == set(Status)
    assert set(STATUS_EXIT_CODES) | {Status.OK, Status.RUNTIME_ERROR, Status.KILLED} == set(Status)


@pytest.mark.parametrize("status", list(Status))
def test_exit_code_for(status: Status) -> None:
    exit_code = {Status.OK: 0, Status.RUNTIME_ERROR: 3}.get(status)
    signal = 15 if status is Status.KILLED else None
    result = ExecutionResult(status=status, exit_code=exit_code, signal=signal)
    assert exit_code_for(result) == EXPECTED[status]


@pytest.mark.parametrize("code", [0, 1, 2, 42, 255])
def test_program_exit_code_passes_through(code: int) -> None:
    status = Status.OK if code == 0 else Status.RUNTIME_ERROR
    assert exit_code_for(ExecutionResult(status=status, exit_code=code)) == code


def test_killed_by_sigkill_is_137() -> None:
    assert exit_code_for(ExecutionResult(status=Status.KILLED, signal=9)) == 137


def test_limit_statuses_ignore_a_stray_exit_code() -> None:
    assert exit_code_for(ExecutionResult(status=Status.TIMEOUT, exit_code=0, signal=9)) == 124
    assert exit_code_for(ExecutionResult(status=Status.MEMORY_EXCEEDED, exit_code=0, signal=9)) == 137


def test_exit_codes_fit_a_byte() -> None:
    assert all(0 <= code <= 255 for code in STATUS_EXIT_CODES.values())


# ------------------------------------------------------------------ sandbox run


@pytest.fixture(autouse=True)
def images_built(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """`sandbox run` asks Docker whether the language's image is built; these tests have no Docker."""
    ensured: list[str] = []
    monkeypatch.setattr(sandbox.cli, "_ensure_image", lambda settings, language: ensured.append(language))
    return ensured


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner()


def flat(text: str) -> str:
    """Rich wraps long lines at 80 columns; compare with whitespace collapsed."""
    return " ".join(text.split())


class FakeService:
    """Replaces build_service: records requests, answers with ``outcome`` (or raises it)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, outcome: RunOutcome | Exception) -> None:
        self.specs: list[RunSpec] = []
        self.backend: FakeBackend | None = None

        def handler(spec: RunSpec) -> RunOutcome:
            self.specs.append(spec)
            if isinstance(outcome, Exception):
                raise outcome
            return outcome

        def build_service(
            settings: Settings, *, warm: bool = True, results: ResultCache | None = None
        ) -> ExecutionService:
            assert warm is False, "`sandbox run` must not warm pools"
            self.backend = FakeBackend(handler)
            policies = PolicySet(settings.policies_dir, settings.default_policy)
            catalog = ImageCatalog(settings.images_dir)
            return ExecutionService(settings, self.backend, catalog, policies, warm=warm, results=results)

        monkeypatch.setattr(sandbox.service, "build_service", build_service)


def test_run_unknown_extension_exits_2(cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeService(monkeypatch, RunOutcome(status=Status.OK, exit_code=0))
    program = tmp_path / "prog.xyz"
    program.write_text("print(1)")
    result = cli.invoke(app, ["run", str(program)])
    assert result.exit_code == 2
    assert "cannot tell the language of prog.xyz; pass --language" in flat(result.output)
    assert fake.specs == [], "nothing may run"


def test_run_missing_file_exits_2(cli: CliRunner, tmp_path: Path) -> None:
    result = cli.invoke(app, ["run", str(tmp_path / "missing.py")])
    assert result.exit_code == 2


def test_run_streams_output_and_exits_with_the_program_code(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeService(
        monkeypatch,
        RunOutcome(status=Status.RUNTIME_ERROR, exit_code=3, stdout=b"hi\n", stderr=b"oops\n", message="exited"),
    )
    program = tmp_path / "prog.py"
    program.write_text("import sys; print('hi'); sys.exit(3)")
    result = cli.invoke(app, ["run", str(program), "--timeout", "2", "--", "one", "two"])
    assert result.exit_code == 3, result.output
    assert result.stdout.startswith("hi\n")
    assert "oops" in result.stderr
    assert "runtime_error exit=3" in flat(result.stderr)
    [spec] = fake.specs
    assert spec.files[0].data == b"import sys; print('hi'); sys.exit(3)"
    assert spec.argv == ("python3", "main.py", "one", "two")
    assert spec.limits.wall_time_s == 2
    assert fake.backend is not None and fake.backend.closed


def test_run_language_option_overrides_the_extension(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeService(monkeypatch, RunOutcome(status=Status.OK, exit_code=0))
    program = tmp_path / "script.txt"
    program.write_text("echo hi")
    result = cli.invoke(app, ["run", "-l", "bash", str(program)])
    assert result.exit_code == 0, result.output
    assert fake.specs[0].argv[:2] == ("bash", "main.sh")


def test_run_json(cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    FakeService(monkeypatch, RunOutcome(status=Status.TIMEOUT, signal=9, stdout=b"partial", message="too slow"))
    program = tmp_path / "prog.sh"
    program.write_text("sleep 100")
    result = cli.invoke(app, ["run", "--json", str(program)])
    assert result.exit_code == 124
    parsed = ExecutionResult.model_validate_json(result.stdout)
    assert parsed.status is Status.TIMEOUT and parsed.stdout == "partial" and parsed.message == "too slow"


def test_run_unknown_language_is_rejected(cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeService(monkeypatch, RunOutcome(status=Status.OK, exit_code=0))
    program = tmp_path / "prog.py"
    program.write_text("")
    result = cli.invoke(app, ["run", "-l", "cobol", str(program)])
    assert result.exit_code == 2
    assert "rejected: unknown language 'cobol'" in flat(result.output)
    assert fake.specs == []


def test_run_limit_over_maximum_is_rejected(cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    FakeService(monkeypatch, RunOutcome(status=Status.OK, exit_code=0))
    program = tmp_path / "prog.py"
    program.write_text("")
    result = cli.invoke(app, ["run", "--memory", "999999", str(program)])
    assert result.exit_code == 2
    assert "memory_mb=999999 exceeds the server maximum" in flat(result.output)


def test_run_capacity_error_exits_75(cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    FakeService(monkeypatch, CapacityUnavailable("no containers"))
    program = tmp_path / "prog.py"
    program.write_text("")
    result = cli.invoke(app, ["run", str(program)])
    assert result.exit_code == 75
    assert "capacity_unavailable: no containers" in flat(result.output)


def test_run_invalid_settings_exit_2(cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeService(monkeypatch, RunOutcome(status=Status.OK, exit_code=0))
    monkeypatch.setenv("SANDBOX_USER", "root")
    program = tmp_path / "prog.py"
    program.write_text("")
    result = cli.invoke(app, ["run", str(program)])
    assert result.exit_code == 2
    assert "invalid settings" in flat(result.output)
    assert fake.specs == []


def test_run_non_utf8_file_is_rejected(cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    FakeService(monkeypatch, RunOutcome(status=Status.OK, exit_code=0))
    program = tmp_path / "prog.py"
    program.write_bytes(b"\xff\xfe\x00")
    result = cli.invoke(app, ["run", str(program)])
    assert result.exit_code == 2
    assert "rejected" in result.output


def test_an_unexpected_error_is_internal_error_with_the_traceback_in_the_log(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(settings: Settings, *, warm: bool = True, results: ResultCache | None = None) -> ExecutionService:
        raise RuntimeError("boom at /srv/secret/path")

    monkeypatch.setattr(sandbox.service, "build_service", broken)
    program = tmp_path / "prog.py"
    program.write_text("print(1)")
    result = cli.invoke(app, ["run", str(program)])
    assert result.exit_code == 70
    # stderr holds the report and the log: one JSON line (not a terminal) with the traceback.
    logged = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    report = "\n".join(line for line in result.output.splitlines() if not line.startswith("{"))
    assert flat(report) == "internal_error: internal error"
    assert "/srv/secret" not in report
    assert [line["message"] for line in logged] == ["unexpected error"]
    assert "boom at /srv/secret/path" in logged[0]["exception"]
    assert any(r.exc_info and "boom at /srv/secret/path" in str(r.exc_info[1]) for r in caplog.records)


def test_refusals_print_the_error_object_as_json_with_json(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeService(monkeypatch, RunOutcome(status=Status.OK, exit_code=0))
    program = tmp_path / "prog.py"
    program.write_text("import subprocess\n")
    result = cli.invoke(app, ["run", "--json", str(program)])
    assert result.exit_code == 2
    body = json.loads(result.stdout)
    assert set(body) == {"code", "message", "findings"}
    assert body["code"] == "validation_rejected" and body["findings"][0]["rule_id"] == "import.denied"
    assert fake.specs == []


def test_a_validation_denial_shows_the_finding_and_the_source_line(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    FakeService(monkeypatch, RunOutcome(status=Status.OK, exit_code=0))
    program = tmp_path / "prog.py"
    program.write_text("x = 1\nimport subprocess\n")
    result = cli.invoke(app, ["run", str(program)])
    assert result.exit_code == 2
    out = result.stderr
    assert f"{program}:2:0: deny import.denied" in flat(out)  # the user's file, not the workdir's main.py
    assert "    import subprocess\n    ^" in out
    assert "validation_rejected:" in out


# ------------------------------------------------------------------ languages and images


def test_run_knows_the_language_by_the_image_tomls_suffixes(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, images_built: list[str]
) -> None:
    fake = FakeService(monkeypatch, RunOutcome(status=Status.OK, exit_code=0))
    program = tmp_path / "prog.cc"
    program.write_text("int main() { return 0; }\n")
    result = cli.invoke(app, ["run", str(program)])
    assert result.exit_code == 0, result.output
    assert images_built == ["cpp"]  # the image is ensured (built when missing) before the run
    assert fake.specs[0].image == ImageCatalog(Settings().images_dir).image_tag("cpp")


class Builds:
    """Replaces the image build of `sandbox images build`: records which languages it was asked for."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.asked: list[list[str]] = []

        def build(settings: Settings, languages: list[str], force: bool = False) -> dict[str, str]:
            self.asked.append(languages)
            return {name: f"tag-{name}" for name in languages}

        monkeypatch.setattr(sandbox.cli, "_build_images", build)


def test_images_build_defaults_to_the_pool_languages(cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    builds = Builds(monkeypatch)
    monkeypatch.setenv("SANDBOX_POOL_LANGUAGES", '["python", "bash"]')
    result = cli.invoke(app, ["images", "build"])
    assert result.exit_code == 0, result.output
    assert builds.asked == [["python", "bash"]]
    assert result.stdout.splitlines() == ["python\ttag-python", "bash\ttag-bash"]


def test_images_build_all_builds_every_language(cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    builds = Builds(monkeypatch)
    assert cli.invoke(app, ["images", "build", "--all"]).exit_code == 0
    assert builds.asked == [sorted(ImageCatalog(Settings().images_dir).languages)]
    assert {"c", "cpp", "go", "java", "javascript", "rust", "typescript"} <= set(builds.asked[0])


def test_images_build_language_repeats_and_takes_aliases(cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    builds = Builds(monkeypatch)
    result = cli.invoke(app, ["images", "build", "--language", "ts", "-l", "rust", "-l", "typescript"])
    assert result.exit_code == 0, result.output
    assert builds.asked == [["typescript", "rust"]]  # canonical names, once each, in the order given


def test_images_build_refuses_an_unknown_language_and_all_with_language(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    builds = Builds(monkeypatch)
    unknown = cli.invoke(app, ["images", "build", "-l", "cobol"])
    assert unknown.exit_code == 2
    assert "unknown language 'cobol'" in unknown.stderr and "rust" in unknown.stderr
    both = cli.invoke(app, ["images", "build", "--all", "-l", "c"])
    assert both.exit_code == 2 and "not both" in both.stderr
    assert builds.asked == []


def test_run_cache_answers_the_second_run_from_the_state_directory(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeService(monkeypatch, RunOutcome(status=Status.OK, exit_code=0, stdout=b"42\n", wall_ms=4))
    monkeypatch.setenv("SANDBOX_STATE_DIR", str(tmp_path / "state"))
    program = tmp_path / "prog.py"
    program.write_text("print(6 * 7)")
    first = cli.invoke(app, ["run", "--cache", str(program)])
    second = cli.invoke(app, ["run", "--cache", "--json", str(program)])  # another process, in effect
    assert first.exit_code == 0 and second.exit_code == 0, (first.output, second.output)
    assert len(fake.specs) == 1 and first.stdout == "42\n"
    cached = ExecutionResult.model_validate_json(second.stdout)
    assert cached.cached and cached.cached_from and cached.stdout == "42\n"
    third = cli.invoke(app, ["run", "--cache", str(program)])
    assert third.stdout == "42\n" and f"(cached: ran as {cached.cached_from})" in flat(third.stderr)
    assert len(fake.specs) == 1
    cli.invoke(app, ["run", str(program)])  # without the flag: it runs
    assert len(fake.specs) == 2
    entries = list((tmp_path / "state" / "result-cache").iterdir())
    assert len(entries) == 1 and (entries[0].parent.stat().st_mode & 0o777) == 0o700
