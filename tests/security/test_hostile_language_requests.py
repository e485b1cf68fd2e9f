"""Hostile requests for the compiled languages and tests mode, through the REST door of a live server.

Each must be refused with a precise problem (400, 413 or 422) before any container, or run to a precise
status: never a 500, never ``internal_error``. And one planning rule without the door: a case's
arguments count in the request's size cap by their bytes.
"""

from __future__ import annotations

import pytest

from sandbox.config import PROJECT_ROOT, Settings
from sandbox.engine import ImageCatalog
from sandbox.errors import PayloadTooLarge
from sandbox.models import ExecutionRequest, TestCase
from sandbox.planning import Planner
from sandbox.validation import PolicySet
from tests.e2e.conftest import live_server  # noqa: F401  (the live server fixture)

PROBLEM = "application/problem+json"
C_MAIN = "int main(void) { return 0; }\n"


@pytest.fixture(scope="module")
def key(live_server) -> str:  # noqa: F811
    return live_server.key("hostile-language-requests", policy="permissive")


def problem(response, http_status: int) -> dict:
    assert response.status_code == http_status, response.text
    assert response.headers["content-type"] == PROBLEM
    return response.json()


@pytest.mark.parametrize(
    "tests",
    ["abc", [1], [{"stdin": 5}], [{"args": "x"}], [{"expected_stdout": ["a"]}], [{"extra": 1}], [{"args": ["a\x00b"]}]],
    ids=["string", "int-case", "int-stdin", "string-args", "list-expected", "unknown-field", "nul-arg"],
)
def test_tests_of_the_wrong_shape_are_a_422(live_server, key: str, tests: object) -> None:  # noqa: F811
    with live_server.client(key) as api:
        response = api.post("/v1/executions", json={"language": "c", "code": C_MAIN, "tests": tests})
    problem(response, 422)


@pytest.mark.parametrize(
    ("limits", "names"),
    [
        ({"compile_wall_time_s": 121}, "compile_wall_time_s"),
        ({"compile_cpu_time_s": 61}, "compile_cpu_time_s"),
        ({"compile_memory_mb": 4096}, "compile_memory_mb"),
        ({"compile_memory_mb": 8}, "compile_memory_mb"),
    ],
    ids=["wall-over", "cpu-over", "memory-over", "memory-under"],
)
def test_compile_limits_out_of_range_are_a_400_naming_them(live_server, key: str, limits: dict, names: str) -> None:  # noqa: F811
    with live_server.client(key) as api:
        response = api.post("/v1/executions", json={"language": "c", "code": C_MAIN, "limits": limits})
    assert names in problem(response, 400)["message"]


@pytest.mark.parametrize(
    "limits",
    [{"compile_wall_time_s": 0}, {"compile_cpu_time_s": -1}, {"compile_memory_mb": "lots"}, {"compile_oops": 1}],
    ids=["zero-wall", "negative-cpu", "string-memory", "unknown-limit"],
)
def test_compile_limits_of_the_wrong_shape_are_a_422(live_server, key: str, limits: dict) -> None:  # noqa: F811
    with live_server.client(key) as api:
        response = api.post("/v1/executions", json={"language": "c", "code": C_MAIN, "limits": limits})
    problem(response, 422)


def test_an_infinite_compile_limit_is_refused(live_server, key: str) -> None:  # noqa: F811
    body = '{"language": "c", "code": "int main(void){return 0;}", "limits": {"compile_wall_time_s": Infinity}}'
    with live_server.client(key) as api:
        response = api.post("/v1/executions", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code in (400, 422), response.text


def test_tests_mode_refusals_are_400s_before_any_container(live_server, key: str) -> None:  # noqa: F811
    bodies = {
        "101 test cases": {"language": "bash", "code": "echo", "tests": [{}] * 101},
        "over the server's": {"language": "c", "code": C_MAIN, "tests": [{}] * 100, "limits": {"wall_time_s": 10}},
        "tests is empty": {"language": "bash", "code": "echo", "tests": []},
        "belong to each case": {"language": "bash", "code": "echo", "stdin": "x", "tests": [{}]},
    }
    with live_server.client(key) as api:
        for says, body in bodies.items():
            assert says in problem(api.post("/v1/executions", json=body), 400)["message"]


def test_sessions_take_no_tests_and_no_compiled_language(live_server, key: str) -> None:  # noqa: F811
    with live_server.client(key) as api:
        opened = api.post("/v1/sessions", json={"language": "c"})
        assert "python only" in problem(opened, 400)["message"]
        response = api.post("/v1/sessions", json={})
        assert response.status_code == 201, response.text
        sid = response.json()["id"]
        try:
            cell = api.post(f"/v1/sessions/{sid}/executions", json={"code": "print(1)", "tests": [{}]})
            problem(cell, 422)
            fine = api.post(f"/v1/sessions/{sid}/executions", json={"code": "print(1)"})
            assert fine.status_code == 200 and fine.json()["stdout"] == "1\n", fine.text
        finally:
            api.delete(f"/v1/sessions/{sid}")


@pytest.mark.parametrize("language", ["C++", "GOLANG", "Js", "c ", "../c", "kotlin"])
def test_language_names_are_resolved_or_refused_never_a_500(live_server, key: str, language: str) -> None:  # noqa: F811
    code = {"c++": "int main() {}\n", "golang": "package main\nfunc main() {}\n", "js": "1;\n"}
    with live_server.client(key) as api:
        response = api.post("/v1/executions", json={"language": language, "code": code.get(language.lower(), "x")})
    if language.lower() in code:
        assert response.status_code == 200 and response.json()["status"] == "ok", response.text
    else:
        assert "unknown language" in problem(response, 400)["message"]


def test_a_cases_arguments_count_in_the_size_cap_by_their_bytes() -> None:
    """FAILS at 3455900: ``Planner.plan`` counts a case's arguments with ``sum(map(len, t.args))``, their
    characters; 256 arguments of 4096 four-byte characters are 4 MiB, counted as 1 MiB, under the 2 MiB
    cap (the request's own ``args`` are counted by ``len(a.encode())``). Over REST the body cap stops
    most of it; over MCP stdio or the CLI nothing does."""
    settings = Settings()
    planner = Planner(settings, ImageCatalog(PROJECT_ROOT / "images"), PolicySet(settings.policies_dir, "standard"))
    request = ExecutionRequest(language="bash", code="echo $#", tests=[TestCase(args=["\U0001f600" * 4096] * 256)])
    assert sum(len(a.encode()) for a in request.tests[0].args) > settings.request_bytes
    with pytest.raises(PayloadTooLarge):
        planner.plan(request, planner.policies.get("permissive"))
