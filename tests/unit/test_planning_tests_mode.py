"""Admission of tests mode and compile limits (``planning.Planner``, ``limits.resolve_limits``): no Docker."""

from __future__ import annotations

import pytest

from sandbox.config import PROJECT_ROOT, Settings
from sandbox.engine import ImageCatalog, TestInput
from sandbox.errors import RequestRejected
from sandbox.limits import resolve_limits
from sandbox.models import ExecutionRequest, Limits, TestCase
from sandbox.planning import Planner
from sandbox.validation import PolicySet

CATALOG = ImageCatalog(PROJECT_ROOT / "images")
JAVA_MAIN = "public class Main {\n  public static void main(String[] args) {}\n}\n"


def planner(**settings: object) -> Planner:
    config = Settings(**settings)
    return Planner(config, CATALOG, PolicySet(config.policies_dir, config.default_policy))


def plan(request: ExecutionRequest, **settings: object):
    p = planner(**settings)
    return p.plan(request, p.policies.get(request.policy or "permissive"))


def cases(n: int, **fields: object) -> list[TestCase]:
    return [TestCase(**fields) for _ in range(n)]


def rejected(request: ExecutionRequest, **settings: object) -> RequestRejected:
    with pytest.raises(RequestRejected) as raised:
        plan(request, **settings)
    assert raised.value.http_status == 400
    return raised.value


# ----------------------------------------------------------------------------- the cases


def test_the_cases_reach_the_run_spec_as_bytes_with_their_args() -> None:
    request = ExecutionRequest(
        language="cpp",
        code="int main() {}",
        tests=[TestCase(stdin="1 2\n", args=["-v", "x y"], expected_stdout="3\n"), TestCase(stdin="\u00e4")],
    )
    spec = plan(request, tests_head_bytes=1024)
    assert spec.tests == (
        TestInput(stdin=b"1 2\n", args=("-v", "x y"), expected_stdout=b"3\n"),
        TestInput(stdin="\u00e4".encode(), args=(), expected_stdout=None),
    )
    assert spec.head_bytes == 1024
    assert spec.argv == ("./main",), "a case's args are added by the runner, not to the request's argv"
    assert spec.compile_argv == CATALOG.language("cpp").compile_argv
    assert spec.stdin == b""


def test_without_tests_there_are_no_cases() -> None:
    assert plan(ExecutionRequest(code="print(1)")).tests is None


def test_as_many_cases_as_the_server_allows_are_admitted_one_more_is_refused() -> None:
    assert len(plan(ExecutionRequest(code="print(1)", tests=cases(3)), max_tests=3).tests or ()) == 3
    error = rejected(ExecutionRequest(code="print(1)", tests=cases(4)), max_tests=3)
    assert error.message == "4 test cases, over the server's 3"
    assert error.details == {"limit": "tests", "maximum": 3}


def test_an_empty_list_of_cases_is_refused() -> None:
    error = rejected(ExecutionRequest(code="print(1)", tests=[]))
    assert error.message == "tests is empty: give at least one case, or leave tests out"


@pytest.mark.parametrize("extra", [{"stdin": "x"}, {"args": ["a"]}, {"stdin": "x", "args": ["a"]}])
def test_stdin_or_args_of_the_request_with_tests_are_refused(extra: dict) -> None:
    error = rejected(ExecutionRequest(code="print(1)", tests=cases(1), **extra))
    assert error.message == "with tests, stdin and args belong to each case, not to the request"


def test_the_cases_count_toward_the_request_size_cap() -> None:
    from sandbox.errors import PayloadTooLarge

    big = "x" * 600
    plan(ExecutionRequest(code="print(1)", tests=cases(1, stdin=big)), request_bytes=1000)
    for fields in ({"stdin": big}, {"expected_stdout": big}, {"args": [big]}):
        with pytest.raises(PayloadTooLarge):
            plan(ExecutionRequest(code="print(1)", tests=cases(2, **fields)), request_bytes=1000)


# ----------------------------------------------------------------------------- the time budget


def test_the_time_budget_counts_the_compile_and_every_case() -> None:
    # cpp: compile 30 s + 10 cases x 5 s = 80 s, over 79 s
    request = ExecutionRequest(
        language="cpp", code="int main() {}", tests=cases(10), limits=Limits(wall_time_s=5, compile_wall_time_s=30)
    )
    plan(request, max_request_wall_time_s=80)
    error = rejected(request, max_request_wall_time_s=79)
    assert error.message == (
        "10 run(s) x wall_time_s 5 s + compile_wall_time_s 30 s = 80 s, over the server's 79 s for one request: "
        "lower limits.wall_time_s or send fewer cases"
    )
    assert error.details == {"limit": "max_request_wall_time_s", "maximum": 79}


def test_an_interpreted_language_has_no_compile_in_its_budget() -> None:
    request = ExecutionRequest(code="print(1)", tests=cases(8), limits=Limits(wall_time_s=10, compile_wall_time_s=100))
    plan(request, max_request_wall_time_s=80)  # 8 x 10 s; the compile limit is not spent
    error = rejected(request, max_request_wall_time_s=79)
    assert error.message.startswith("8 run(s) x wall_time_s 10 s = 80 s, over the server's 79 s")


def test_a_single_compiled_run_is_within_the_budget_too() -> None:
    request = ExecutionRequest(language="c", code="int main() {}", limits=Limits(wall_time_s=60, compile_wall_time_s=2))
    error = rejected(request, max_request_wall_time_s=61)
    assert error.message.startswith("1 run(s) x wall_time_s 60 s + compile_wall_time_s 2 s = 62 s")


# ----------------------------------------------------------------------------- the source checks


def test_java_refuses_a_public_class_that_is_not_main() -> None:
    source = "public class Solution {\n  public static void main(String[] args) {}\n}\n"
    error = rejected(ExecutionRequest(language="java", code=source, tests=cases(1)))
    assert error.message.startswith("Main.java declares public class Solution: the public class must be named Main")
    assert error.details == {"language": "java"}
    assert plan(ExecutionRequest(language="java", code=JAVA_MAIN)).compile_argv[0] == "javac"


# ----------------------------------------------------------------------------- compile limits


def test_compile_limits_default_from_the_settings_and_lower_as_asked() -> None:
    settings = Settings(compile_wall_time_s=7, compile_cpu_time_s=6, compile_memory_mb=300)
    limits = resolve_limits(None, settings)
    assert (limits.compile_wall_time_s, limits.compile_cpu_time_s, limits.compile_memory_mb) == (7, 6, 300)
    asked = Limits(compile_wall_time_s=1.5, compile_cpu_time_s=1, compile_memory_mb=64)
    limits = resolve_limits(asked, settings)
    assert (limits.compile_wall_time_s, limits.compile_cpu_time_s, limits.compile_memory_mb) == (1.5, 1, 64)


@pytest.mark.parametrize(
    ("name", "value", "maximum"),
    [("compile_wall_time_s", 121.0, "120"), ("compile_cpu_time_s", 61, "60"), ("compile_memory_mb", 2049, "2048")],
)
def test_compile_limits_over_the_server_maximum_are_refused(name: str, value: float, maximum: str) -> None:
    with pytest.raises(RequestRejected) as raised:
        resolve_limits(Limits(**{name: value}), Settings())
    assert raised.value.message == f"{name}={value:g} exceeds the server maximum {maximum}"
    resolve_limits(Limits(**{name: float(maximum) if isinstance(value, float) else int(maximum)}), Settings())


def test_compile_memory_below_the_minimum_is_refused() -> None:
    with pytest.raises(RequestRejected) as raised:
        resolve_limits(Limits(compile_memory_mb=15), Settings())
    assert (
        raised.value.message == "compile_memory_mb=15 is below the minimum 16 (MiB a sandbox needs to start a compiler)"
    )
    assert resolve_limits(Limits(compile_memory_mb=16), Settings()).compile_memory_mb == 16


def test_a_compiled_containers_memory_is_the_compiles_then_the_runs() -> None:
    request = ExecutionRequest(language="c", code="int main() {}", limits=Limits(memory_mb=64, compile_memory_mb=512))
    spec = plan(request)
    assert (spec.container_memory_mb, spec.set_run_memory, spec.limits.memory_mb) == (512, True, 64)
    # Equal limits still set the run's: in tests mode the host adds the runner's copy of the workdir to it.
    same = plan(request.model_copy(update={"limits": Limits(memory_mb=300, compile_memory_mb=300)}))
    assert (same.container_memory_mb, same.set_run_memory) == (300, True)
    interpreted = plan(ExecutionRequest(code="print(1)", limits=Limits(memory_mb=64, compile_memory_mb=512)))
    assert (interpreted.container_memory_mb, interpreted.set_run_memory, interpreted.compile_argv) == (64, False, ())
