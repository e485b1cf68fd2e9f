"""``sandbox selftest --url`` against a live server: the corpus over REST, and the refusals that stop it.

V-on over REST is "the API answered 422 with the validation error object and its
findings"; V-off goes through ``POST /v1/executions`` like any client's run, extra
files (a ``.pyc`` as base64) included.
"""

from __future__ import annotations

import json

from typer.testing import CliRunner

from sandbox.cli import app
from sandbox.selftest.report import COULD_NOT_RUN, HELD
from sandbox.selftest.runner import REMOTE_PATHS_NOTE

SUBSET = "B28,B29,R12,T08,F01"


def selftest(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["selftest", *args])
    return result.exit_code, result.stdout, result.stderr


def test_a_subset_holds_over_rest(live_server) -> None:
    key = live_server.key("selftest", policy="permissive")
    code, out, err = selftest("--url", live_server.url, "--key", key, "--only", SUBSET, "--json")
    assert code == HELD, out + err
    report = json.loads(out)
    assert report["target"] == live_server.url and report["held"] is True
    by_case = {c["case"]: c for c in report["cases"]}
    assert set(by_case) == {
        "B28_helper_file_payload v-on",
        "B28_helper_file_payload v-off",
        "B29_pyc_extra_file v-on",
        "B29_pyc_extra_file v-off",
        "R12_output_flood contained",
        "T08_state_between_runs contained",
        "F01_read_shadow contained",
    }
    assert by_case["B29_pyc_extra_file v-on"]["got"] == ["validation_rejected: file.unvalidatable"]
    assert by_case["B29_pyc_extra_file v-off"]["got"][0].startswith("ok exit=0")  # the .pyc arrived and ran
    assert REMOTE_PATHS_NOTE in by_case["B28_helper_file_payload v-off"]["notes"]
    assert by_case["R12_output_flood contained"]["got"][0].startswith("output_limit_exceeded")
    assert len(by_case["T08_state_between_runs contained"]["got"]) == 2
    assert key not in out + err


def test_a_wrong_key_could_not_run(live_server) -> None:
    code, out, err = selftest("--url", live_server.url, "--key", "sk-not-a-key", "--only", "B01")
    assert code == COULD_NOT_RUN, out + err
    assert "the server refused the key" in " ".join(err.split())
    assert "sk-not-a-key" not in out + err


def test_a_key_whose_tier_forbids_permissive_could_not_run(live_server) -> None:
    key = live_server.key("selftest-standard", policy="standard")
    code, out, err = selftest("--url", live_server.url, "--key", key, "--only", "B01")
    assert code == COULD_NOT_RUN, out + err
    assert "--policy permissive" in " ".join(err.split())


def test_a_url_that_is_not_the_api_could_not_run(live_server) -> None:
    key = live_server.key("selftest-path", policy="permissive")
    code, out, err = selftest("--url", live_server.url + "/nowhere", "--key", key, "--only", "B01")
    assert code == COULD_NOT_RUN, out + err
