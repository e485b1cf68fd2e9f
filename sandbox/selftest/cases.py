"""The corpus as data: each program's header parsed into its expectations.

Two kinds of program, one file each, named by row id (``R10_cpu_spin.py``):

- ``programs/``: the containment corpus (SECURITY-BAR section 3), run with validation
  off; the header says how the container must stop the attack (``Program``).
- ``bypasses/``: policy bypasses (section 3.7), each run twice: under the row's policy
  it must be rejected before any container, under ``permissive`` it runs and must be
  contained (``Bypass``).

The header keys are documented in ``tests/security/test_corpus.py`` and
``test_bypasses.py``; unknown keys fail parsing, so a typo cannot switch a check off.
One more program key, ``xfail-under-runsc: <reason>``, records a row gVisor (runsc) does
not meet, a gap of runsc or a difference the program cannot see past (the reason says
which): under that runtime the row is a strict xfail (``tests/security/conftest.py``),
so the expectation stays the same for every runtime and the row fails the day it holds.
Parsing lives here (not in the tests) so that ``sandbox selftest`` and the tests share
one reading of every header, and ``judge.py`` one definition of "held".
"""

from __future__ import annotations

import base64
import fnmatch
import importlib.util
import marshal
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.models import ExecutionRequest, FileInput, Finding, Limits, Status
from sandbox.selftest import headers

#: Where the corpus ships: ``programs/`` and ``bypasses/`` next to this module.
CORPUS = Path(__file__).parent
#: V-off: the tier that reports every finding as a warning and denies nothing.
PERMISSIVE = "permissive"
#: Rows whose check needs the host in the loop (see ``tests/security/test_corpus.py``'s ``HOOKS``).
HOOKS = frozenset({"host-process", "host-port", "victim", "twice"})

PROGRAM_REPEATABLE = {"expect-stdout-contains", "expect-stdout-not-contains", "expect-stdout-regex"}
PROGRAM_SINGLE = {
    "row",
    "attack",
    "expect-status",
    "expect-signal",
    "expect-wall-ms-min",
    "expect-wall-ms-max",
    "expect-stdout-bytes",
    "expect-truncated",
    "limits",
    "canary",
    "hook",
    "xfail",
    "xfail-under-runsc",
}
BYPASS_REPEATABLE = {
    "extra-file",
    "v-on-finding",
    "v-on-clean-file",
    "v-off-stdout-contains",
    "v-off-stdout-not-contains",
    "v-off-stdin-line",
    "v-off-host-path-absent",
}
BYPASS_SINGLE = {"row", "attack", "limits", "v-on-policy", "v-on-status", "v-off-status", "xfail-v-on", "xfail-v-off"}
FINDING_KEYS = {"rule", "source", "file"}


@dataclass(frozen=True)
class Program:
    """A containment program and the expectations from its header."""

    path: Path
    code: str
    row: str
    attack: str
    statuses: frozenset[Status]
    limits: dict[str, float | int]
    stdout_contains: tuple[str, ...] = ()
    stdout_not_contains: tuple[str, ...] = ()
    stdout_regex: tuple[str, ...] = ()
    signal: int | None = None
    wall_ms_min: int | None = None
    wall_ms_max: int | None = None
    stdout_bytes: int | None = None
    truncated: str | None = None
    canary: str | None = None
    hook: str | None = None
    xfail: str | None = None
    xfail_under_runsc: str | None = None


@dataclass(frozen=True)
class ExpectedFinding:
    """One ``v-on-finding`` line: ``rule=<fnmatch> [source=..] [file=..] [text=<substring to end of line>]``."""

    rule: str
    source: str | None = None
    file: str | None = None
    text: str | None = None

    @classmethod
    def parse(cls, value: str) -> ExpectedFinding:
        head, _, text = value.partition(" text=")
        fields: dict[str, str] = {}
        for item in head.split():
            key, sep, val = item.partition("=")
            if not sep or key not in FINDING_KEYS:
                raise ValueError(f"bad v-on-finding item {item!r} (keys: {sorted(FINDING_KEYS)} and text=)")
            fields[key] = val
        if "rule" not in fields:
            raise ValueError(f"v-on-finding {value!r} lacks rule=")
        return cls(rule=fields["rule"], source=fields.get("source"), file=fields.get("file"), text=text or None)

    def matches(self, finding: Finding) -> bool:
        return (
            fnmatch.fnmatchcase(finding.rule_id, self.rule)
            and (self.source is None or finding.source == self.source)
            and (self.file is None or finding.file == self.file)
            and (self.text is None or self.text in finding.message)
        )

    def __str__(self) -> str:
        parts = [f"rule={self.rule}"] + [f"{k}={v}" for k in ("source", "file", "text") if (v := getattr(self, k))]
        return " ".join(parts)


@dataclass(frozen=True)
class Bypass:
    """A bypass program and the expectations of its two runs."""

    path: Path
    code: str
    row: str
    attack: str
    limits: dict[str, float | int]
    extra_files: tuple[tuple[str, str], ...] = ()
    v_on_policy: str = "standard"
    v_on_status: Status = Status.VALIDATION_REJECTED
    v_on_findings: tuple[ExpectedFinding, ...] = ()
    v_on_clean_files: tuple[str, ...] = ()
    v_off_status: Status = Status.OK
    v_off_stdout_contains: tuple[str, ...] = ()
    v_off_stdout_not_contains: tuple[str, ...] = ()
    v_off_stdin: str = ""
    v_off_host_paths_absent: tuple[str, ...] = ()
    xfail_v_on: str | None = None
    xfail_v_off: str | None = None
    files: tuple[FileInput, ...] = field(default=(), compare=False)

    def request(self, policy: str, stdin: str = "") -> ExecutionRequest:
        return ExecutionRequest(
            code=self.code,
            files=list(self.files),
            stdin=stdin,
            limits=Limits.model_validate(self.limits),
            policy=policy,
        )


def parse_program(path: Path) -> Program:
    """A ``programs/`` file; ``ValueError`` naming the file for any header mistake."""
    header = headers.parse(
        path,
        single_keys=PROGRAM_SINGLE,
        repeatable=PROGRAM_REPEATABLE,
        continued={"attack", "xfail", "xfail-under-runsc"},
        required=("row", "attack", "expect-status", "limits"),
    )
    single, repeated = header.single, header.repeated
    if single.get("canary") not in (None, "overlap", "concurrent"):
        raise ValueError(f"{path.name}: canary must be 'overlap' or 'concurrent'")
    if single.get("hook") is not None and single["hook"] not in HOOKS:
        raise ValueError(f"{path.name}: unknown hook {single['hook']!r}")
    optional_int = {key: int(single[key]) if key in single else None for key in _INT_KEYS}
    return Program(
        path=path,
        code=header.code,
        row=single["row"],
        attack=single["attack"],
        statuses=frozenset(Status(s.strip()) for s in single["expect-status"].split("|")),
        limits=header.limits,
        stdout_contains=tuple(repeated["expect-stdout-contains"]),
        stdout_not_contains=tuple(repeated["expect-stdout-not-contains"]),
        stdout_regex=tuple(repeated["expect-stdout-regex"]),
        signal=optional_int["expect-signal"],
        wall_ms_min=optional_int["expect-wall-ms-min"],
        wall_ms_max=optional_int["expect-wall-ms-max"],
        stdout_bytes=optional_int["expect-stdout-bytes"],
        truncated=single.get("expect-truncated"),
        canary=single.get("canary"),
        hook=single.get("hook"),
        xfail=single.get("xfail"),
        xfail_under_runsc=single.get("xfail-under-runsc"),
    )


_INT_KEYS = ("expect-signal", "expect-wall-ms-min", "expect-wall-ms-max", "expect-stdout-bytes")


def parse_bypass(path: Path) -> Bypass:
    """A ``bypasses/`` file; extra files are read relative to its directory."""
    header = headers.parse(
        path,
        single_keys=BYPASS_SINGLE,
        repeatable=BYPASS_REPEATABLE,
        continued={"attack", "xfail-v-on", "xfail-v-off"},
        required=("row", "attack", "limits", "v-off-status"),
    )
    single, repeated = header.single, header.repeated
    v_on_status = Status(single.get("v-on-status", Status.VALIDATION_REJECTED.value))
    if v_on_status not in (Status.VALIDATION_REJECTED, Status.SYNTAX_ERROR):
        raise ValueError(f"{path.name}: v-on-status must be validation_rejected or syntax_error")
    extras = []
    for value in repeated["extra-file"]:
        dest, source = value.split()
        extras.append((dest, source))
    return Bypass(
        path=path,
        code=header.code,
        row=single["row"],
        attack=single["attack"],
        limits=header.limits,
        extra_files=tuple(extras),
        v_on_policy=single.get("v-on-policy", "standard"),
        v_on_status=v_on_status,
        v_on_findings=tuple(ExpectedFinding.parse(v) for v in repeated["v-on-finding"]),
        v_on_clean_files=tuple(repeated["v-on-clean-file"]),
        v_off_status=Status(single["v-off-status"]),
        v_off_stdout_contains=tuple(repeated["v-off-stdout-contains"]),
        v_off_stdout_not_contains=tuple(repeated["v-off-stdout-not-contains"]),
        v_off_stdin="".join(line + "\n" for line in repeated["v-off-stdin-line"]),
        v_off_host_paths_absent=tuple(repeated["v-off-host-path-absent"]),
        xfail_v_on=single.get("xfail-v-on"),
        xfail_v_off=single.get("xfail-v-off"),
        files=tuple(extra_file(dest, path.parent / source) for dest, source in extras),
    )


def pyc_bytes(source: str, filename: str) -> bytes:
    """A sourceless ``.pyc`` of ``source`` for this interpreter.

    The image runs CPython 3.11; a ``sandbox`` installed on another minor version makes
    bytecode the image's interpreter refuses (bad magic number), so a row that imports it
    fails its V-off expectations rather than passing vacuously.
    """
    code = compile(source, filename, "exec", dont_inherit=True)
    return importlib.util.MAGIC_NUMBER + bytes(12) + marshal.dumps(code)


def extra_file(dest: str, source: Path) -> FileInput:
    """A request file from the corpus; a ``.pyc`` destination is sent as bytecode compiled from ``source``."""
    if dest.endswith(".pyc"):
        data = pyc_bytes(source.read_text(encoding="utf-8"), dest[:-1])
        return FileInput(path=dest, content=base64.b64encode(data).decode(), encoding="base64")
    return FileInput(path=dest, content=source.read_text(encoding="utf-8"))


def programs(corpus: Path = CORPUS) -> list[Program]:
    """Every containment program under ``corpus/programs``, by file name."""
    return [parse_program(p) for p in sorted((corpus / "programs").glob("[A-Z][0-9][0-9]_*.py"))]


def bypasses(corpus: Path = CORPUS) -> list[Bypass]:
    """Every bypass program under ``corpus/bypasses``, by file name."""
    return [parse_bypass(p) for p in sorted((corpus / "bypasses").glob("B[0-9][0-9]_*.py"))]
