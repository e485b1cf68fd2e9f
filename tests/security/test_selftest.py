"""``sandbox selftest`` on this machine's engine: a subset through the CLI, a miss, and the whole corpus once.

Every invocation names its own owner label, and the test fails if any container
with it is left (the selftest's service removes its containers when it closes).
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import docker
import pytest
from typer.testing import CliRunner

from sandbox.cli import app
from sandbox.engine.hardening import LABEL_OWNER
from sandbox.selftest import cases, plan
from sandbox.selftest.report import HELD, NOT_HELD
from tests.docker_fixtures import SESSION_OWNER


def selftest(docker_client: docker.DockerClient, tmp_path: Path, *args: str) -> tuple[int, str, str]:
    """Run the CLI with its own owner label and state dir; fail if it leaves a container."""
    owner = f"{SESSION_OWNER}-selftest-{uuid.uuid4().hex[:6]}"
    env = {"SANDBOX_OWNER": owner, "SANDBOX_STATE_DIR": str(tmp_path / "state")}
    result = CliRunner().invoke(app, ["selftest", *args], env=env)
    left = docker_client.api.containers(all=True, filters={"label": f"{LABEL_OWNER}={owner}"})
    for container in left:
        docker_client.api.remove_container(container["Id"], force=True)
    assert not left, f"the selftest left containers {[c['Id'][:12] for c in left]}"
    return result.exit_code, result.stdout, result.stderr


def test_a_subset_holds_and_the_table_says_so(docker_client: docker.DockerClient, tmp_path: Path) -> None:
    code, out, err = selftest(docker_client, tmp_path, "--only", "B03,R12,F01,T03")
    assert code == HELD, out + err
    flat = " ".join(out.split())
    for case in ("B03_loader_load_module v-on", "B03_loader_load_module v-off", "R12_output_flood contained"):
        assert case in flat
    assert "validation_rejected: " in flat and "output_limit_exceeded" in flat
    assert "note: the host-side check" in flat  # T03: what the selftest left out, said
    assert "every case held; 5 cases" in flat


def test_json_of_a_subset(docker_client: docker.DockerClient, tmp_path: Path) -> None:
    code, out, err = selftest(docker_client, tmp_path, "--only", "B29,T08", "--json", "--concurrency", "2")
    assert code == HELD, out + err
    report = json.loads(out)
    assert report["held"] and report["counts"] == {"cases": 3, "held": 3, "not_held": 0, "known_gaps": 0}
    assert [c["case"] for c in report["cases"]] == [
        "T08_state_between_runs contained",
        "B29_pyc_extra_file v-on",
        "B29_pyc_extra_file v-off",
    ]


def test_a_case_that_does_not_hold_exits_1(docker_client: docker.DockerClient, tmp_path: Path) -> None:
    """B03 with its V-off verdict turned around (the escape 'must' reach root): the real run misses it."""
    corpus = tmp_path / "corpus"
    (corpus / "bypasses").mkdir(parents=True)
    source = (cases.CORPUS / "bypasses" / "B03_loader_load_module.py").read_text()
    wrong = source.replace("# v-off-stdout-contains: uid=65534(nobody)", "# v-off-stdout-contains: uid=0(root)")
    assert wrong != source
    (corpus / "bypasses" / "B03_loader_load_module.py").write_text(wrong)
    code, out, err = selftest(docker_client, tmp_path, "--corpus", str(corpus), "--json")
    assert code == NOT_HELD, out + err
    report = json.loads(out)
    verdicts = {c["case"]: c["misses"] for c in report["cases"]}
    assert verdicts == {
        "B03_loader_load_module v-on": [],
        "B03_loader_load_module v-off": ["stdout lacks 'uid=0(root) gid=65534(nogroup)'"],
    }


@pytest.mark.timeout(900)
def test_the_whole_corpus_holds(docker_client: docker.DockerClient, tmp_path: Path) -> None:
    """What an operator runs after an upgrade: every case of the shipped corpus, default concurrency."""
    started = time.monotonic()
    code, out, err = selftest(docker_client, tmp_path, "--json")
    report = json.loads(out)
    missed = {c["case"]: c["misses"] for c in report["cases"] if not c["held"]}
    assert code == HELD and not missed, f"{missed}\n{err}"
    assert report["counts"]["cases"] == len(plan.load())
    print(f"sandbox selftest: {report['counts']['cases']} cases in {time.monotonic() - started:.0f} s")
