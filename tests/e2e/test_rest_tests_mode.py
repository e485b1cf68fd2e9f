"""Tests mode over REST: POST /v1/executions with `tests`, then GET of the record once it lives only in the store.

The server keeps no finished execution in memory (``keep_finished_mb=0``), so the GET is answered from
the SQLite store; its record keeps ``keep_output_bytes`` of output, shared between the cases.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from sandbox.api import create_app
from sandbox.config import Settings
from sandbox.store import Store
from tests.docker_fixtures import SESSION_OWNER
from tests.live_uvicorn import uvicorn_in_thread

KEEP = 64  # bytes of output a record keeps per stream

SUM_CPP = (
    "#include <iostream>\n#include <string>\nint main(int argc, char **argv) {\n"
    "  long a, b;\n  std::cin >> a >> b;\n  std::cout << a + b << '\\n';\n"
    "  if (argc > 1) std::cout << std::string(100, argv[1][0]) << '\\n';\n}\n"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, docker_client) -> Iterator[tuple[str, str]]:
    state: Path = tmp_path_factory.mktemp("state")
    settings = Settings(
        state_dir=state,
        pool_size=0,
        validation_workers=1,
        owner=f"{SESSION_OWNER}-rest-tests",
        keep_finished_mb=0,
        keep_output_bytes=KEEP,
    )
    with uvicorn_in_thread(create_app(settings), start_timeout=60, log_level="warning") as url:
        store = Store(settings.database)
        try:
            key = store.create_key("e2e-tests-mode", "standard", 8, 10_000)[1]
        finally:
            store.close()
        yield url, key
    left = docker_client.api.containers(all=True, filters={"label": f"io.sandbox.owner={settings.owner}"})
    assert not left, f"the server left containers behind: {[c['Id'][:12] for c in left]}"


@pytest.fixture
def api(server: tuple[str, str]) -> Iterator[httpx.Client]:
    url, key = server
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=120) as client:
        yield client


def stored(api: httpx.Client, execution_id: str, *, cut: Callable[[dict], bool]) -> dict:
    """GET of the execution once the server answers it from the store, which ``cut`` tells by the
    record's output cut to ``KEEP`` bytes (the POST may answer before the execution's task is over and
    leaves memory). A record the store never cuts, or an execution never evicted, fails here."""
    deadline = time.monotonic() + 10
    while True:
        response = api.get(f"/v1/executions/{execution_id}")
        assert response.status_code == 200, response.text
        record = response.json()
        if cut(record):
            return record
        assert time.monotonic() < deadline, f"GET never answered with the stored record: {record}"
        time.sleep(0.1)


def test_a_tests_mode_request_answers_cases_and_summary_and_its_record_keeps_them(api: httpx.Client) -> None:
    body = {
        "language": "cpp",
        "code": SUM_CPP,
        "tests": [
            {"stdin": "1 2", "expected_stdout": "3"},
            {"stdin": "2 2", "expected_stdout": "5\n"},
            {"stdin": "40 2", "args": ["z"]},
        ],
        "limits": {"wall_time_s": 5},
    }
    response = api.post("/v1/executions", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["status"], answer["state"], answer["language"]) == ("ok", "done", "cpp")
    assert answer["compile"]["status"] == "ok" and answer["compile"]["exit_code"] == 0
    assert [case["index"] for case in answer["tests"]] == [0, 1, 2]
    assert [case["passed"] for case in answer["tests"]] == [True, False, None]
    assert [case["stdout"] for case in answer["tests"]] == ["3\n", "4\n", "42\n" + "z" * 100 + "\n"]
    assert answer["summary"] == {"total": 3, "passed": 1, "failed": 1, "unjudged": 1}
    assert answer["message"] == "1 of 3 case(s) passed, 1 not judged; case 1 printed other output than expected"

    record = stored(api, answer["id"], cut=lambda r: len(r["tests"][2]["stdout"].encode()) <= KEEP // 3)
    for field in ("id", "status", "message", "summary", "language", "code_sha256"):
        assert record[field] == answer[field], field
    assert record["compile"] == answer["compile"]
    assert len(record["tests"]) == 3
    for kept, full in zip(record["tests"], answer["tests"], strict=True):
        assert {k: v for k, v in kept.items() if k not in ("stdout", "stderr")} == {
            k: v for k, v in full.items() if k not in ("stdout", "stderr")
        }
        # The record's output is the store's: KEEP bytes per stream, shared between the three cases.
        assert full["stdout"].startswith(kept["stdout"]) and len(kept["stdout"]) <= KEEP // 3
    assert record["tests"][2]["stdout"] == ("42\n" + "z" * 100)[: KEEP // 3]


def test_a_compile_error_in_tests_mode_is_recorded_with_the_compilers_output(api: httpx.Client) -> None:
    body = {"language": "c", "code": "int main(void) { return missing; }\n", "tests": [{"stdin": "1"}]}
    response = api.post("/v1/executions", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["status"] == "compile_error" and answer["tests"] is None and answer["summary"] is None
    assert "missing" in answer["compile"]["output"]
    assert len(answer["compile"]["output"].encode()) > KEEP
    record = stored(api, answer["id"], cut=lambda r: len(r["compile"]["output"].encode()) <= KEEP)
    assert record["status"] == "compile_error" and record["compile"]["status"] == "compile_error"
    # KEEP bytes of UTF-8 (gcc quotes with U+2018), a character cut in two dropped
    assert record["compile"]["output"] == answer["compile"]["output"].encode()[:KEEP].decode(errors="ignore")
    assert record["tests"] is None and record["summary"] is None


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"tests": []}, "tests is empty"),
        ({"tests": [{"stdin": "1"}], "stdin": "x"}, "with tests, stdin and args belong to each case"),
        ({"tests": [{"stdin": "1"}] * 101}, "101 test cases, over the server's 100"),
    ],
)
def test_a_refused_tests_mode_request_is_a_400_problem(api: httpx.Client, extra: dict, message: str) -> None:
    response = api.post("/v1/executions", json={"code": "print(1)", **extra})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert message in response.json()["message"]
