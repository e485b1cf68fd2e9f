"""The one definition of "held" (``sandbox.selftest.judge``), on made-up outcomes: no engine needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.errors import SyntaxRejected, ValidationRejected
from sandbox.models import ExecutionResult, Finding, Status
from sandbox.selftest import cases, judge
from sandbox.selftest.cases import Bypass, ExpectedFinding, Program
from sandbox.selftest.judge import Rejection


def program(**expect: object) -> Program:
    fields: dict[str, object] = {"statuses": frozenset({Status.TIMEOUT}), "limits": {"wall_time_s": 2}}
    fields.update(expect)
    return Program(path=Path("X01_made_up.py"), code="", row="X01", attack="made up", **fields)  # type: ignore[arg-type]


def bypass(**expect: object) -> Bypass:
    return Bypass(
        path=Path("B99_made_up.py"), code="", row="B99", attack="made up", limits={"wall_time_s": 5}, **expect
    )  # type: ignore[arg-type]


def result(status: Status = Status.TIMEOUT, **fields: object) -> ExecutionResult:
    return ExecutionResult(status=status, **fields)  # type: ignore[arg-type]


def test_a_result_meeting_every_expectation_holds() -> None:
    expected = program(
        stdout_contains=("DENIED",),
        stdout_not_contains=("ALLOWED",),
        stdout_regex=(r"^x: DENIED errno=E\w+$",),
        signal=9,
        wall_ms_min=1000,
        wall_ms_max=3000,
        stdout_bytes=18,
        truncated="stdout",
    )
    got = result(stdout="x: DENIED errno=EP", signal=9, wall_ms=2000, stdout_truncated=True)
    assert judge.contained(expected, got) == []


@pytest.mark.parametrize(
    ("expect", "got", "miss"),
    [
        ({}, {"status": Status.OK}, "expected status timeout, got ok"),
        ({"stdout_contains": ("DENIED",)}, {}, "stdout lacks 'DENIED'"),
        ({"stdout_not_contains": ("ALLOWED",)}, {"stdout": "mount: ALLOWED"}, "stdout has 'ALLOWED'"),
        ({"stdout_regex": (r"^\d+$",)}, {"stdout": "x"}, "stdout does not match"),
        ({"signal": 9}, {"signal": 15}, "expected signal 9, got 15"),
        ({"wall_ms_min": 1900}, {"wall_ms": 10}, "wall_ms 10 is under 1900"),
        ({"wall_ms_max": 4500}, {"wall_ms": 9000}, "wall_ms 9000 is over 4500"),
        ({"stdout_bytes": 3}, {"stdout": "ab"}, "stdout is 2 B, expected 3 B"),
        ({"truncated": "stdout"}, {"stderr_truncated": True}, "expected only stdout truncated"),
    ],
)
def test_each_expectation_can_miss(expect: dict[str, object], got: dict[str, object], miss: str) -> None:
    misses = judge.contained(program(**expect), result(**got))
    assert len(misses) >= 1 and miss in misses[0], misses


def test_a_refused_program_did_not_run() -> None:
    misses = judge.contained(program(), Rejection(Status.VALIDATION_REJECTED, "denied"))
    assert misses == ["expected the program to run, but it was refused: validation_rejected: denied"]


def test_twice_needs_the_first_run_to_leave_state() -> None:
    expected = program(statuses=frozenset({Status.OK}), stdout_contains=("previous-state: none",))
    clean = result(Status.OK, stdout="previous-state: none\nWROTE\n")
    assert judge.twice(expected, clean, clean) == []
    assert judge.twice(expected, result(Status.OK, stdout="previous-state: none\n"), clean) == [
        "first run: stdout lacks 'WROTE' (it left no state, so the second run proves nothing)"
    ]
    leaked = result(Status.OK, stdout="FOUND /tmp/state\nWROTE\n")
    assert judge.twice(expected, clean, leaked) == ["second run: stdout lacks 'previous-state: none'"]


def finding(rule: str, action: str = "deny", file: str = "main.py", message: str = "no") -> Finding:
    return Finding(rule_id=rule, action=action, file=file, message=message)  # type: ignore[arg-type]


def test_v_on_needs_a_rejection_with_the_expected_denials() -> None:
    row = bypass(
        v_on_findings=(ExpectedFinding.parse("rule=name.* file=helper.py text='__import__'"),),
        v_on_clean_files=("main.py",),
    )
    good = Rejection(
        Status.VALIDATION_REJECTED,
        "denied",
        (finding("name.denied", file="helper.py", message="'__import__' is denied"),),
        "standard",
    )
    assert judge.rejected(row, good) == []
    assert judge.rejected(row, result(Status.OK)) == ["not rejected: it ran under 'standard' (ok), a validator bypass"]
    wrong = Rejection(Status.SYNTAX_ERROR, "bad", (finding("syntax.error"),), "strict")
    assert judge.rejected(row, wrong) == [
        "expected validation_rejected, got syntax_error: bad",
        "rejected under policy 'strict', expected 'standard'",
        "no denial matches `rule=name.* file=helper.py text='__import__'`",
        "main.py should have no denial",
    ]
    warned_only = Rejection(Status.VALIDATION_REJECTED, "denied", (finding("x", action="warn"),))
    assert "rejected without a denying finding" in judge.rejected(bypass(), warned_only)


def test_rejection_of_the_service_exception_keeps_the_policy() -> None:
    exc = SyntaxRejected("bad syntax", [finding("syntax.error")], policy="strict")
    outcome = Rejection.of(exc)
    assert (outcome.status, outcome.policy, outcome.findings) == (
        Status.SYNTAX_ERROR,
        "strict",
        (finding("syntax.error"),),
    )
    assert Rejection.of(ValidationRejected("no")).status is Status.VALIDATION_REJECTED


def test_v_off_is_the_header_verdict_and_warnings_are_separate() -> None:
    row = bypass(
        v_off_status=Status.OK,
        v_off_stdout_contains=("shadow: DENIED",),
        v_off_stdout_not_contains=("ALLOWED",),
        v_on_findings=(ExpectedFinding.parse("rule=name.denied"),),
    )
    assert judge.v_off(row, result(Status.OK, stdout="shadow: DENIED")) == []
    assert judge.v_off(row, result(Status.OK, stdout="shadow: ALLOWED")) == [
        "stdout lacks 'shadow: DENIED'",
        "stdout has 'ALLOWED'",
    ]
    assert judge.v_off(row, Rejection(Status.VALIDATION_REJECTED, "no")) == [
        f"expected the program to run under {cases.PERMISSIVE}, but it was refused: validation_rejected"
    ]
    saw_it = result(Status.OK, findings=[finding("name.denied", action="warn")])
    assert judge.v_off_warnings(row, saw_it) == []
    assert judge.v_off_warnings(row, result(Status.OK, findings=[finding("name.denied")])) == [
        "permissive denied name.denied"
    ]
    assert judge.v_off_warnings(row, result(Status.OK)) == ["no warning matches `rule=name.denied`"]
