"""What the operator sees: a progress bar while cases run, then a table or JSON.

The table has one row per case: the case (file name and phase), the attack, what
was expected, what came back, and whether it held. Notes say what a case left out
(a host-side check only the tests can make); misses say why a case did not hold.
JSON carries the same, plus each outcome's details for the cases that missed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sandbox.models import ExecutionResult
from sandbox.selftest.judge import Rejection, summary
from sandbox.selftest.runner import CaseResult, Report

#: Exit codes of ``sandbox selftest``.
HELD, NOT_HELD, USAGE, COULD_NOT_RUN = 0, 1, 2, 3
TAIL_CHARS = 2000


def held_text(result: CaseResult) -> str:
    if result.held:
        return "yes"
    return "no (known gap)" if result.case.known_gap else "NO"


def table(report: Report) -> Table:
    """One row per case, in corpus order; a case that did not hold shows its misses under what it got."""
    out = Table("case", "attack", "expected", "got", "held", title=f"sandbox selftest: {escape(report.target)}")
    for result in report.results:
        got = " / ".join(escape(summary(o)) for o in result.outcomes)
        got += "".join(f"\n[red]• {escape(miss)}[/]" for miss in result.misses)
        got += "".join(f"\n[dim]note: {escape(note)}[/]" for note in result.notes)
        colour = "green" if result.held else "red"
        out.add_row(
            escape(result.case.id),
            escape(result.case.title),
            escape(result.case.expected()),
            got,
            f"[{colour}]{held_text(result)}[/]",
        )
    return out


def counts(report: Report) -> dict[str, int]:
    held = sum(r.held for r in report.results)
    gaps = sum(1 for r in report.results if not r.held and r.case.known_gap)
    return {"cases": len(report.results), "held": held, "not_held": len(report.results) - held, "known_gaps": gaps}


def summary_line(report: Report) -> str:
    c = counts(report)
    verdict = "every case held" if report.held else f"{c['not_held']} of {c['cases']} did NOT hold"
    gaps = f" ({c['known_gaps']} known gaps)" if c["known_gaps"] else ""
    return f"{verdict}{gaps}; {c['cases']} cases in {report.seconds:.1f} s against {report.target}"


def as_json(report: Report) -> dict[str, Any]:
    """The report as plain data: ``held``, counts, and one entry per case."""
    return {
        "target": report.target,
        "held": report.held,
        "seconds": round(report.seconds, 3),
        "counts": counts(report),
        "cases": [_case_json(r) for r in report.results],
    }


def _case_json(result: CaseResult) -> dict[str, Any]:
    case = result.case
    entry: dict[str, Any] = {
        "case": case.id,
        "file": f"{case.name}.py",
        "row": case.row,
        "phase": case.phase.value,
        "attack": case.attack,
        "expected": case.expected(),
        "got": [summary(o) for o in result.outcomes],
        "held": result.held,
        "misses": list(result.misses),
        "notes": list(result.notes),
        "known_gap": case.known_gap,
        "seconds": round(result.seconds, 3),
    }
    if not result.held:
        entry["outcomes"] = [_outcome_json(o) for o in result.outcomes]
    return entry


def _outcome_json(outcome: ExecutionResult | Rejection) -> dict[str, Any]:
    if isinstance(outcome, Rejection):
        findings = [f.model_dump(mode="json") for f in outcome.findings]
        return {"status": outcome.status.value, "message": outcome.message, "findings": findings}
    data = outcome.model_dump(mode="json", include=set(ExecutionResult.model_fields))
    data["stdout"], data["stderr"] = outcome.stdout[-TAIL_CHARS:], outcome.stderr[-TAIL_CHARS:]
    return data


def print_report(report: Report, *, json_output: bool, out: Console) -> int:
    """Print the report to ``out`` and return the exit code: 0 only when every case held."""
    if json_output:
        out.file.write(json.dumps(as_json(report), indent=2) + "\n")  # plain: no markup, no wrapping
    else:
        out.print(table(report))
        colour = "green" if report.held else "red"
        out.print(f"[{colour}]{escape(summary_line(report))}[/]")
    return HELD if report.held else NOT_HELD


@contextmanager
def progress(total: int, err: Console) -> Iterator[Callable[[CaseResult], None]]:
    """A bar on ``err`` while cases run when it is a terminal (nothing otherwise); yields the per-case callback."""
    if not err.is_terminal:
        yield lambda _: None
        return
    columns = (
        TextColumn("selftest"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
    )
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("", total=total)

        def done(result: CaseResult) -> None:
            mark = "" if result.held else " [red]did not hold[/]"
            bar.update(task, advance=1, description=f"{escape(result.case.id)}{mark}")

        yield done
