"""From corpus files to cases: the requests ``sandbox selftest`` sends, and how each one is judged.

A case is one program in one phase:

``contained``  a containment program under ``permissive`` (validation reports, never denies)
``v-on``       a bypass under its row's policy: must be rejected before any container
``v-off``      the same bypass under ``permissive``: runs, and must be contained

Rows whose tests put the host in the loop are run without that part, and the case
carries a note saying what was left out, so the table never claims more than it
checked (``HOOK_NOTES``, ``CANARY_NOTE``; host paths are checked only when the
engine runs on this machine, see ``runner.py``).

A case's known gap comes from its header's ``xfail`` (every runtime), or, when the
runtime is gVisor (``runsc``; known for the local engine, not over REST), from
``xfail-under-runsc``; the case is still run and judged, and a known gap that does
not hold still makes the selftest fail.
"""

from __future__ import annotations

import enum
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.engine import is_gvisor
from sandbox.models import ExecutionRequest, Limits
from sandbox.selftest import cases, judge
from sandbox.selftest.cases import Bypass, Program
from sandbox.selftest.judge import Outcome

#: Beyond the header's wall-time limit: container start, validation, a queue on a busy host.
MARGIN_S = 30.0
TITLE_CHARS = 72
CANARY_NOTE = "no canary run beside it (the tests check the host stays responsive)"
HOOK_NOTES = {
    "host-process": "the host-side check that no daemon survives is in the tests only",
    "host-port": "the host's attempt to connect to the port is in the tests only",
    "victim": "no victim run (tests only); other runs of the selftest must stay invisible",
    "twice": "run twice in a row; the tests force both runs through one warm container pool",
}


class Phase(enum.StrEnum):
    """Which run of a program a case is."""

    CONTAINED = "contained"  # containment program, validation reports only
    V_ON = "v-on"  # bypass under its policy: rejected before any container
    V_OFF = "v-off"  # bypass under permissive: contained


@dataclass(frozen=True)
class Case:
    """One program in one phase: its requests (run in order) and its expectations."""

    name: str
    phase: Phase
    row: str
    attack: str
    requests: tuple[ExecutionRequest, ...]
    wall_time_s: float
    source: Program | Bypass
    notes: tuple[str, ...] = ()
    known_gap: str | None = None
    host_paths: tuple[str, ...] = field(default=())

    @property
    def id(self) -> str:
        return f"{self.name} {self.phase.value}"

    @property
    def timeout_s(self) -> float:
        """How long one request may take before the case is given up: the header's limit plus a margin."""
        return self.wall_time_s + MARGIN_S

    @property
    def title(self) -> str:
        """The attack's first sentence, cut to fit a table."""
        first = self.attack.split(". ", 1)[0].rstrip(".")
        return first if len(first) <= TITLE_CHARS else first[: TITLE_CHARS - 1] + "…"

    def expected(self) -> str:
        """What must happen, in a few words."""
        source = self.source
        if isinstance(source, Program):
            checks = _program_checks(source)
            text = "|".join(sorted(s.value for s in source.statuses))
        elif self.phase is Phase.V_ON:
            rules = sorted({f.rule for f in source.v_on_findings})
            return f"{source.v_on_status.value} ({source.v_on_policy}{': ' + ', '.join(rules) if rules else ''})"
        else:
            checks = len(source.v_off_stdout_contains) + len(source.v_off_stdout_not_contains)
            text = source.v_off_status.value
        return f"{text} + {checks} check{'s' * (checks != 1)}" if checks else text

    def judge(self, outcomes: Sequence[Outcome]) -> list[str]:
        """The misses of this case's outcomes (one per request, in order); empty when it held."""
        source = self.source
        if isinstance(source, Program):
            if source.hook == "twice":
                return judge.twice(source, outcomes[0], outcomes[1])
            return judge.contained(source, outcomes[0])
        if self.phase is Phase.V_ON:
            return judge.rejected(source, outcomes[0])
        return judge.v_off(source, outcomes[0])


def _program_checks(program: Program) -> int:
    singles = (program.signal, program.wall_ms_min, program.wall_ms_max, program.stdout_bytes, program.truncated)
    listed = program.stdout_contains + program.stdout_not_contains + program.stdout_regex
    return len(listed) + sum(value is not None for value in singles)


def program_case(program: Program, runtime: str | None = None) -> Case:
    """A containment program as a case; hooks get the stdin their program reads, and a note.

    ``runtime`` is the OCI runtime the case will run under, when known: under gVisor an
    ``xfail-under-runsc`` reason is the case's known gap (a plain ``xfail`` comes first).
    """
    notes = [CANARY_NOTE] if program.canary else []
    known_gap = program.xfail or (program.xfail_under_runsc if is_gvisor(runtime) else None)
    if known_gap:
        notes.append(f"known gap{f' under {runtime}' if known_gap != program.xfail else ''}: {known_gap}")
    stdin, runs = "", 1
    if program.hook is not None:
        notes.append(HOOK_NOTES[program.hook])
        if program.hook == "host-port":
            stdin = str(20_000 + secrets.randbelow(40_000))  # any port: the sandbox has its own netns
        elif program.hook in ("host-process", "victim"):
            stdin = f"{secrets.randbelow(10**9) + 10**9}"
        elif program.hook == "twice":
            runs = 2
    request = ExecutionRequest(
        code=program.code, stdin=stdin, limits=Limits.model_validate(program.limits), policy=cases.PERMISSIVE
    )
    return Case(
        name=program.path.stem,
        phase=Phase.CONTAINED,
        row=program.row,
        attack=program.attack,
        requests=(request,) * runs,
        wall_time_s=float(program.limits["wall_time_s"]),
        source=program,
        notes=tuple(notes),
        known_gap=known_gap,
    )


def bypass_cases(bypass: Bypass) -> list[Case]:
    """A bypass's two cases: V-on under its policy, V-off under permissive."""
    wall = float(bypass.limits["wall_time_s"])
    name, row, attack = bypass.path.stem, bypass.row, bypass.attack
    v_on_request = bypass.request(bypass.v_on_policy)
    v_off_request = bypass.request(cases.PERMISSIVE, stdin=bypass.v_off_stdin)
    return [
        Case(name, Phase.V_ON, row, attack, (v_on_request,), wall, bypass, known_gap=bypass.xfail_v_on),
        Case(
            name,
            Phase.V_OFF,
            row,
            attack,
            (v_off_request,),
            wall,
            bypass,
            known_gap=bypass.xfail_v_off,
            host_paths=bypass.v_off_host_paths_absent,
        ),
    ]


def load(corpus: Path = cases.CORPUS, only: Sequence[str] = (), runtime: str | None = None) -> list[Case]:
    """Every case of the corpus, or those whose row (``B01``) or file name (``B03_loader_load_module``) is in ``only``.

    A name in ``only`` that matches nothing is a ``ValueError``: a typo must not run an empty suite that passes.
    ``runtime`` is the target's OCI runtime when known (the local engine's), for the known gaps of gVisor.
    """
    found = [program_case(p, runtime) for p in cases.programs(corpus)]
    found += [case for b in cases.bypasses(corpus) for case in bypass_cases(b)]
    if not found:
        raise ValueError(f"no programs under {corpus}/programs or {corpus}/bypasses")
    if not only:
        return found
    wanted = {name.strip().upper() for name in only if name.strip()}
    unknown = wanted - {c.row.upper() for c in found} - {c.name.upper() for c in found}
    if unknown:
        raise ValueError(f"no row or program named {', '.join(sorted(unknown))} in the corpus")
    return [c for c in found if c.row.upper() in wanted or c.name.upper() in wanted]
