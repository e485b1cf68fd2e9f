"""``sandbox selftest`` end to end on the FakeBackend: exit codes, the table, JSON (no engine needed).

A temporary corpus holds one containment program and one bypass; the fake backend
answers each program as a real sandbox would (or, to prove that a miss is caught,
as a broken one would).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

import sandbox.service
from sandbox.cli import app
from sandbox.config import Settings
from sandbox.engine import FakeBackend, ImageCatalog, RunOutcome, RunSpec
from sandbox.errors import DockerUnavailable
from sandbox.models import Status
from sandbox.selftest.report import COULD_NOT_RUN, HELD, NOT_HELD, USAGE
from sandbox.service import ExecutionService
from sandbox.validation import PolicySet
from tests.live_uvicorn import free_port

CONTAINED = """\
# row: X01
# attack: Made up for the tests: prints a verdict line. A second sentence the title drops.
# expect-status: ok
# expect-stdout-contains: mount: DENIED
# limits: wall_time_s=5
print("mount: DENIED")
"""
BYPASS = """\
# row: B99
# attack: Made up for the tests: `__import__('os')`.
# v-on-finding: rule=name.denied text='__import__'
# v-off-status: ok
# v-off-stdout-contains: uid=65534
# limits: wall_time_s=5
print(__import__("os").getuid())
"""


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    (tmp_path / "programs").mkdir()
    (tmp_path / "bypasses").mkdir()
    (tmp_path / "programs" / "X01_made_up.py").write_text(CONTAINED)
    (tmp_path / "bypasses" / "B99_made_up.py").write_text(BYPASS)
    return tmp_path


def sandbox_like(spec: RunSpec) -> RunOutcome:
    """What a working sandbox prints for the programs above."""
    code = next(f.data for f in spec.files if f.path == "main.py").decode()
    stdout = {"print('ok')": b"ok\n", "getuid": b"uid=65534\n", "mount": b"mount: DENIED\n"}
    out = next((v for k, v in stdout.items() if k in code), b"")
    return RunOutcome(status=Status.OK, exit_code=0, stdout=out, wall_ms=5)


def use_backend(monkeypatch: pytest.MonkeyPatch, handler: Callable[[RunSpec], RunOutcome]) -> list[FakeBackend]:
    made: list[FakeBackend] = []

    def build_service(settings: Settings, *, warm: bool = True) -> ExecutionService:
        assert warm is False, "the selftest warms no pool"
        made.append(FakeBackend(handler))
        policies = PolicySet(settings.policies_dir, settings.default_policy)
        return ExecutionService(settings, made[-1], ImageCatalog(settings.images_dir), policies, warm=warm)

    monkeypatch.setattr(sandbox.service, "build_service", build_service)
    return made


def selftest(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["selftest", *args])
    return result.exit_code, result.stdout, result.stderr


def test_every_case_held(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made = use_backend(monkeypatch, sandbox_like)
    code, out, err = selftest("--corpus", str(corpus))
    assert code == HELD, out + err
    flat = " ".join(out.split())
    assert "X01_made_up contained" in flat and "Made up for the tests: prints a verdict line" in flat
    assert "A second sentence" not in flat
    assert "B99_made_up v-on" in flat and "validation_rejected: name.denied" in flat
    assert "every case held; 3 cases" in flat
    [backend] = made
    assert backend.closed
    # Preflight, X01, B99 V-off: the V-on run never reached the backend.
    assert len(backend.specs) == 3


def test_json_output(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_backend(monkeypatch, sandbox_like)
    code, out, _ = selftest("--corpus", str(corpus), "--json", "--only", "B99")
    assert code == HELD
    report = json.loads(out)
    assert report["held"] is True and report["counts"] == {"cases": 2, "held": 2, "not_held": 0, "known_gaps": 0}
    v_on, v_off = report["cases"]
    assert (v_on["case"], v_on["phase"], v_on["got"]) == (
        "B99_made_up v-on",
        "v-on",
        ["validation_rejected: name.denied"],
    )
    assert v_off["held"] and v_off["misses"] == [] and "outcomes" not in v_off


def test_a_case_that_does_not_hold_fails_the_run(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A broken sandbox: the program's escape works (its verdict line says ALLOWED, uid 0)."""

    def broken(spec: RunSpec) -> RunOutcome:
        outcome = sandbox_like(spec)
        if outcome.stdout != b"ok\n":
            outcome = RunOutcome(
                status=Status.OK,
                exit_code=0,
                stdout=outcome.stdout.replace(b"DENIED", b"ALLOWED").replace(b"65534", b"0"),
            )
        return outcome

    use_backend(monkeypatch, broken)
    code, out, _ = selftest("--corpus", str(corpus), "--json")
    assert code == NOT_HELD
    report = json.loads(out)
    assert report["held"] is False and report["counts"]["not_held"] == 2
    misses = {c["case"]: c["misses"] for c in report["cases"]}
    assert misses == {
        "X01_made_up contained": ["stdout lacks 'mount: DENIED'"],
        "B99_made_up v-on": [],
        "B99_made_up v-off": ["stdout lacks 'uid=65534'"],
    }
    [x01] = [c for c in report["cases"] if c["case"] == "X01_made_up contained"]
    assert x01["outcomes"][0]["stdout"] == "mount: ALLOWED\n"


def test_a_wrong_expectation_in_the_header_fails_the_run(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_backend(monkeypatch, sandbox_like)
    program = corpus / "programs" / "X01_made_up.py"
    program.write_text(CONTAINED.replace("expect-status: ok", "expect-status: timeout"))
    code, out, _ = selftest("--corpus", str(corpus))
    assert code == NOT_HELD
    flat = " ".join(out.split())
    assert "expected status timeout, got ok" in flat and "1 of 3 did NOT hold" in flat


def test_usage_mistakes_exit_2(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made = use_backend(monkeypatch, sandbox_like)
    assert selftest("--corpus", str(corpus), "--only", "B98")[0] == USAGE
    (corpus / "programs" / "X02_bad.py").write_text("# row: X02\n# attack: x\n# expect-sttus: ok\n")
    code, _, err = selftest("--corpus", str(corpus))
    assert code == USAGE and "unknown header key 'expect-sttus'" in err
    assert selftest("--url", "http://127.0.0.1:1")[0] == USAGE  # --url without --key
    assert selftest("--url", "http://127.0.0.1:1", "--key", "k", "--runtime", "runsc")[0] == USAGE
    assert made == [], "nothing may start"


def test_an_engine_that_does_not_answer_could_not_run(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def down(spec: RunSpec) -> RunOutcome:
        raise DockerUnavailable("connection refused")

    use_backend(monkeypatch, down)
    code, out, err = selftest("--corpus", str(corpus), "--json")
    assert code == COULD_NOT_RUN
    assert json.loads(out) == {"held": False, "error": "the Docker engine stopped answering: connection refused"}
    assert "selftest could not run" in err


def test_a_url_where_nothing_listens_could_not_run(corpus: Path) -> None:
    code, _, err = selftest("--corpus", str(corpus), "--url", f"http://127.0.0.1:{free_port()}", "--key", "sk-x")
    assert code == COULD_NOT_RUN
    assert "cannot reach http://127.0.0.1:" in " ".join(err.split())
    assert "sk-x" not in err
