"""The one definition of "held": a run's outcome checked against its header.

Each function returns the list of misses, one line each saying what was expected
and what happened; an empty list means the case held. ``sandbox selftest`` reports
the misses, and ``tests/security`` asserts there are none (adding the checks that
need the host in the loop: engine spies, event logs, canaries, host processes).

An outcome is what any door answers: an ``ExecutionResult`` when the program ran
(or could not: ``capacity_unavailable``, ``internal_error``), or a ``Rejection``
when validation refused it before any container.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sandbox.errors import ValidationRejected
from sandbox.models import ExecutionResult, Finding, Status
from sandbox.selftest.cases import Bypass, Program


@dataclass(frozen=True)
class Rejection:
    """Validation (or admission) refused the request: the error object, and its policy when the door says."""

    status: Status
    message: str
    findings: tuple[Finding, ...] = ()
    policy: str | None = None
    details: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def of(cls, exc: ValidationRejected) -> Rejection:
        """The service's exception as the outcome a door would answer (the policy comes from its details)."""
        return cls(exc.status, exc.message, tuple(exc.findings), exc.details.get("policy"), exc.details)


Outcome = ExecutionResult | Rejection


def contained(program: Program, outcome: Outcome) -> list[str]:
    """A containment program: the header's statuses and stdout, signal, wall-time and truncation checks."""
    if isinstance(outcome, Rejection):
        return [f"expected the program to run, but it was refused: {outcome.status.value}: {outcome.message}"]
    result, misses = outcome, []
    if result.status not in program.statuses:
        expected = "|".join(sorted(s.value for s in program.statuses))
        misses.append(f"expected status {expected}, got {result.status.value}")
    misses += _stdout(result, program.stdout_contains, program.stdout_not_contains, program.stdout_regex)
    if program.signal is not None and result.signal != program.signal:
        misses.append(f"expected signal {program.signal}, got {result.signal}")
    if program.wall_ms_min is not None and result.wall_ms < program.wall_ms_min:
        misses.append(f"wall_ms {result.wall_ms} is under {program.wall_ms_min}")
    if program.wall_ms_max is not None and result.wall_ms > program.wall_ms_max:
        misses.append(f"wall_ms {result.wall_ms} is over {program.wall_ms_max}")
    if program.stdout_bytes is not None and (size := len(result.stdout.encode())) != program.stdout_bytes:
        misses.append(f"stdout is {size} B, expected {program.stdout_bytes} B")
    if program.truncated is not None:
        flags = {"stdout": result.stdout_truncated, "stderr": result.stderr_truncated}
        if flags != {k: k == program.truncated for k in flags}:
            misses.append(f"expected only {program.truncated} truncated, flags are {flags}")
    return misses


def twice(program: Program, first: Outcome, second: Outcome) -> list[str]:
    """T08's two runs: the first leaves its state (``WROTE``), the second must find none of it."""
    misses = [f"first run: {miss}" for miss in contained(program, first)]
    if isinstance(first, ExecutionResult) and "WROTE" not in first.stdout:
        misses.append("first run: stdout lacks 'WROTE' (it left no state, so the second run proves nothing)")
    return misses + [f"second run: {miss}" for miss in contained(program, second)]


def rejected(bypass: Bypass, outcome: Outcome) -> list[str]:
    """V-on: refused with the header's status, under the row's policy, by denials matching its findings."""
    if not isinstance(outcome, Rejection):
        return [f"not rejected: it ran under {bypass.v_on_policy!r} ({outcome.status.value}), a validator bypass"]
    misses = []
    if outcome.status is not bypass.v_on_status:
        misses.append(f"expected {bypass.v_on_status.value}, got {outcome.status.value}: {outcome.message}")
    if outcome.policy is not None and outcome.policy != bypass.v_on_policy:
        misses.append(f"rejected under policy {outcome.policy!r}, expected {bypass.v_on_policy!r}")
    denials = [f for f in outcome.findings if f.action == "deny"]
    if not denials:
        misses.append("rejected without a denying finding")
    for expected in bypass.v_on_findings:
        if not any(expected.matches(f) for f in denials):
            misses.append(f"no denial matches `{expected}`")
    for clean in bypass.v_on_clean_files:
        if any(f.file == clean for f in denials):
            misses.append(f"{clean} should have no denial")
    return misses


def v_off(bypass: Bypass, outcome: Outcome) -> list[str]:
    """V-off containment: the header's status and verdict lines (host paths are the caller's to check)."""
    if isinstance(outcome, Rejection):
        return [f"expected the program to run under permissive, but it was refused: {outcome.status.value}"]
    misses = []
    if outcome.status is not bypass.v_off_status:
        misses.append(f"expected status {bypass.v_off_status.value}, got {outcome.status.value}")
    return misses + _stdout(outcome, bypass.v_off_stdout_contains, bypass.v_off_stdout_not_contains, ())


def v_off_warnings(bypass: Bypass, result: ExecutionResult) -> list[str]:
    """V-off, the validator's side: nothing denied, and the V-on findings reported as warnings."""
    misses = [f"permissive denied {f.rule_id}" for f in result.findings if f.action != "warn"]
    if bypass.v_on_policy == "standard" and not bypass.xfail_v_on:
        for expected in bypass.v_on_findings:
            if not any(expected.matches(f) for f in result.findings):
                misses.append(f"no warning matches `{expected}`")
    return misses


def _stdout(
    result: ExecutionResult, contains: tuple[str, ...], not_contains: tuple[str, ...], regex: tuple[str, ...]
) -> list[str]:
    misses = [f"stdout lacks {text!r}" for text in contains if text not in result.stdout]
    misses += [f"stdout has {text!r}" for text in not_contains if text in result.stdout]
    return misses + [f"stdout does not match {p!r}" for p in regex if not re.search(p, result.stdout, re.M)]


def summary(outcome: Outcome) -> str:
    """One short line: the status and what matters about it."""
    if isinstance(outcome, Rejection):
        rules = sorted({f.rule_id for f in outcome.findings if f.action == "deny"})
        return f"{outcome.status.value}: {', '.join(rules) or outcome.message}"
    text = f"{outcome.status.value} exit={outcome.exit_code} {outcome.wall_ms} ms"
    if outcome.signal:
        text += f" signal={outcome.signal}"
    if outcome.status not in (Status.OK, Status.RUNTIME_ERROR) and outcome.message:
        text += f" ({outcome.message})"
    return text


def describe(outcome: Outcome, tail: int = 3000) -> str:
    """The whole outcome for a failure message: status, findings, and the ends of stdout and stderr."""
    if isinstance(outcome, Rejection):
        return f"{outcome.status.value}: {outcome.message}\n--- findings ---\n{describe_findings(outcome.findings)}"
    return (
        f"status={outcome.status.value} exit={outcome.exit_code} signal={outcome.signal} wall_ms={outcome.wall_ms} "
        f"message={outcome.message!r}\n--- findings ---\n{describe_findings(outcome.findings)}\n"
        f"--- stdout ---\n{outcome.stdout[-tail:]}\n--- stderr ---\n{outcome.stderr[-tail:]}"
    )


def describe_findings(findings: tuple[Finding, ...] | list[Finding]) -> str:
    return "\n".join(f"  {f.action} {f.rule_id} [{f.source}] {f.file}:{f.line}: {f.message}" for f in findings)
