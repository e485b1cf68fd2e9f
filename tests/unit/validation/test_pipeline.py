"""The validation pipeline (sandbox/validation/pipeline.py): caps, encoding, parsing, stages, files, cache.

Every case goes through ``validate_files`` (or ``Validator``), the function the
service calls, and checks that it answers with a ``Verdict`` and never raises.
"""

from __future__ import annotations

import time

import pytest

from sandbox.config import PROJECT_ROOT, Settings
from sandbox.engine import FakeBackend, ImageCatalog, RunOutcome
from sandbox.models import ExecutionRequest, FileInput, Status
from sandbox.service import ExecutionService, source_files
from sandbox.validation import SourceFile, Validator, Verdict, validate_files
from sandbox.validation import pipeline as pipeline_module
from sandbox.validation.policy import Policy, SourceRules
from sandbox.validation.rules import RuleChecker
from tests.unit.validation.util import PERMISSIVE, POLICIES, STANDARD, STRICT, findings, verdict, where

CATALOG = ImageCatalog(PROJECT_ROOT / "images")
PYTHON = CATALOG.language("python")


def with_caps(policy: Policy = STANDARD, **caps: int) -> Policy:
    return policy.model_copy(update={"source": SourceRules(**caps)})


def only(result: Verdict) -> tuple[str, str, int, int]:
    """The single finding of ``result``."""
    assert len(result.findings) == 1, where(list(result.findings))
    return where(list(result.findings))[0]


# ------------------------------------------------------------------ size caps


def test_byte_cap() -> None:
    small = with_caps(max_bytes=100)
    assert verdict("x = 1\n" * 16, small).allowed  # 96 bytes
    result = verdict("x = 1\n" * 17, small)
    assert only(result) == ("source.too_large", "deny", 0, 0)
    assert "102 bytes exceeds the policy cap of 100" in result.findings[0].message
    # bytes, not characters: 30 three-byte characters and 7 ASCII ones are 97 bytes
    euros = "s = '" + "\u20ac" * 30 + "'\n"
    assert verdict(euros, with_caps(max_bytes=97)).allowed
    assert only(verdict(euros, with_caps(max_bytes=96)))[0] == "source.too_large"


def test_shipped_byte_cap() -> None:
    cap = STANDARD.source.max_bytes
    assert cap == 256 * 1024
    assert verdict("#" * (cap - 1) + "\n").allowed
    assert only(verdict("#" * cap + "\n")) == ("source.too_large", "deny", 0, 0)


def test_line_cap() -> None:
    small = with_caps(max_lines=10)
    assert verdict("x = 1\n" * 9, small).allowed  # 9 newlines: 10 lines
    assert only(verdict("x = 1\n" * 10, small)) == ("source.too_many_lines", "deny", 0, 0)
    assert only(verdict("\n" * STANDARD.source.max_lines)) == ("source.too_many_lines", "deny", 0, 0)


def test_ast_node_cap() -> None:
    small = with_caps(max_ast_nodes=50)
    assert verdict("x = [1, 2, 3]\n", small).allowed
    result = verdict("x = [" + "1, " * 60 + "]\n", small)
    assert only(result) == ("source.too_complex", "deny", 0, 0)
    assert "more than 50 syntax nodes" in result.findings[0].message


# ------------------------------------------------------------------- encoding


@pytest.mark.parametrize(
    "head",
    [
        "# -*- coding: latin-1 -*-\n",
        "# coding=iso-8859-15\n",
        "#!/usr/bin/env python3\n# vim: set fileencoding=cp1252 :\n",
        "# coding: utf-7\n",
        "# coding: utf-16\n",
        "# coding: no-such-codec\n",
    ],
)
def test_non_utf8_coding_cookies_are_rejected(head: str) -> None:
    result = verdict(head + "x = 1\n")
    assert only(result) == ("source.encoding", "deny", 0, 0)
    assert "only UTF-8 source is accepted" in result.findings[0].message
    assert not result.syntax_error


@pytest.mark.parametrize(
    "head",
    [
        "# -*- coding: utf-8 -*-\n",
        "#!/usr/bin/env python3\n# coding=utf-8\n",
        "# coding: UTF8\n",
        "# coding: utf_8\n",
        "x = 1\ny = 2\n# coding: latin-1\n",  # third line: not a cookie, for Python either
    ],
)
def test_utf8_and_ascii_cookies_are_accepted(head: str) -> None:
    result = verdict(head + "z = 'caf\u00e9'\n")
    assert result.allowed and not result.findings, where(list(result.findings))


def test_ascii_cookie_is_accepted() -> None:
    assert verdict("# coding: ascii\nx = 1\n").allowed


@pytest.mark.parametrize("code", ["x = '\ud800'\n", "# \udcff\nx = 1\n", "\udfff"])
def test_lone_surrogates_are_rejected(code: str) -> None:
    result = verdict(code)
    assert only(result) == ("source.encoding", "deny", 0, 0)
    assert "lone surrogate" in result.findings[0].message


def test_lone_surrogate_in_an_extra_program_file() -> None:
    files = [SourceFile("main.py", "import helper\n"), SourceFile("helper.py", "x = '\udcff'\n")]
    result = validate_files(files, "python", STANDARD)
    assert [(f.rule_id, f.file) for f in result.findings] == [("source.encoding", "helper.py")]


# -------------------------------------------------------------------- syntax


@pytest.mark.parametrize("policy", [STANDARD, PERMISSIVE, STRICT], ids=lambda p: p.name)
def test_syntax_errors_always_deny(policy: Policy) -> None:
    result = verdict("x = 1\ndef f(:\n    pass\n", policy)
    assert not result.allowed and result.syntax_error
    assert only(result) == ("syntax.error", "deny", 2, 6)
    assert result.findings[0].source == "ast"
    assert result.findings[0].message.startswith("SyntaxError: ")


def test_syntax_error_column_and_kind() -> None:
    assert only(verdict("x = (1,\n  2 +)\n")) == ("syntax.error", "deny", 2, 5)
    result = verdict("if x:\nprint(1)\n")
    assert only(result)[:3] == ("syntax.error", "deny", 2)
    assert result.findings[0].message.startswith("IndentationError: ")


def test_null_bytes_are_a_syntax_error() -> None:
    result = verdict("x = 1\x00\n")
    assert result.syntax_error and only(result)[:2] == ("syntax.error", "deny")
    assert "null bytes" in result.findings[0].message


def test_syntax_error_with_other_denials_still_flags_syntax() -> None:
    files = [SourceFile("main.py", "import helper\n"), SourceFile("helper.py", "def f(:\n")]
    result = validate_files(files, "python", STANDARD)
    assert result.syntax_error and [f.file for f in result.findings] == ["helper.py"]


def test_invalid_escape_sequence_is_not_a_syntax_error() -> None:
    result = verdict('import re\nnumber = re.compile("\\d+")\n')
    assert result.allowed, where(list(result.findings))


# ----------------------------------------------------------- pathological input

PATHOLOGICAL = {
    "long_binop_chain": ("x=1" + "+1" * 100_000, "parse.too_complex"),
    "deep_unary": ("x=" + "-" * 100_000 + "1", "parse.too_complex"),
    "1000_nested_brackets": ("x=" + "[" * 1000 + "]" * 1000, "syntax.error"),
    "201_nested_parens": ("x=" + "(" * 201 + "1" + ")" * 201, "syntax.error"),
    "5_MB": ("x = 1\n" * (5 * 1024 * 1024 // 6), "source.too_large"),
    "long_and_chain": ("x=a" + " and a" * 100_000, "source.too_large"),
}


@pytest.mark.parametrize("policy", [STANDARD, STRICT], ids=lambda p: p.name)
@pytest.mark.parametrize("name", list(PATHOLOGICAL))
def test_pathological_sources_are_denied_quickly(name: str, policy: Policy) -> None:
    code, rule_id = PATHOLOGICAL[name]
    started = time.perf_counter()
    result = verdict(code, policy)
    elapsed = time.perf_counter() - started
    assert elapsed < 2, f"{name}: {elapsed:.2f} s"
    assert not result.allowed
    assert rule_id in [f.rule_id for f in result.findings], where(list(result.findings))


def test_200_nested_brackets_are_valid_python() -> None:
    # The parser's nesting limit is 200: exactly 200 levels parse and are allowed.
    assert verdict("x=" + "[" * 200 + "]" * 200).allowed


def test_format_field_scan_is_linear() -> None:
    code = 'x = "{' + "a." * 8_000 + '"\n'  # 16 KB
    started = time.perf_counter()
    verdict(code)
    assert time.perf_counter() - started < 0.15


def test_bandit_sql_check_is_fast() -> None:
    code = 'q = "' + "select " * 4_000 + '" % y\n'  # 28 KB
    started = time.perf_counter()
    verdict(code)
    assert time.perf_counter() - started < 0.15


# --------------------------------------------------------------- permissive


def test_permissive_turns_denials_into_warnings() -> None:
    code = "import subprocess\nsubprocess.call('x', shell=True)\ny = x.__globals__\n"
    strict_result = verdict(code, STANDARD)
    result = verdict(code, PERMISSIVE)
    assert not strict_result.allowed
    assert result.allowed and not result.syntax_error
    assert result.policy == "permissive"
    assert [(f.rule_id, f.line, f.col) for f in result.findings] == [
        (f.rule_id, f.line, f.col) for f in strict_result.findings
    ]
    assert {f.action for f in result.findings} == {"warn"}
    assert {"import.denied", "attribute.dunder", "B602"} <= {f.rule_id for f in result.findings}


def test_permissive_keeps_size_and_encoding_findings_as_warnings() -> None:
    assert only(verdict("x = '\ud800'", PERMISSIVE)) == ("source.encoding", "warn", 0, 0)
    assert verdict("x = '\ud800'", PERMISSIVE).allowed


# ------------------------------------------------------------------- files


@pytest.mark.parametrize(
    "path", ["helper.pyc", "lib.so", "deps.zip", "evil.pth", "pkg/mod.pyd", "m.pyo", "a.egg", "b.whl"]
)
def test_importable_but_unreadable_files_are_denied(path: str) -> None:
    files = [SourceFile("main.py", "print(1)\n"), SourceFile(path, "\udcff\x00junk", program=False)]
    result = validate_files(files, "python", STANDARD)
    assert not result.allowed
    assert [(f.rule_id, f.action, f.file) for f in result.findings] == [("file.unvalidatable", "deny", path)]


def test_unvalidatable_suffix_does_not_matter_for_bash() -> None:
    files = [SourceFile("main.sh", "echo hi\n"), SourceFile("lib.so", "junk", program=False)]
    assert validate_files(files, "bash", STANDARD).allowed


def test_extra_python_file_is_validated_and_named() -> None:
    files = [SourceFile("main.py", "import helper\nhelper.run()\n"), SourceFile("helper.py", "import subprocess\n")]
    result = validate_files(files, "python", STANDARD)
    assert not result.allowed
    assert [(f.rule_id, f.file, f.line, f.col) for f in result.findings] == [("import.denied", "helper.py", 1, 0)]
    assert result.summary().startswith("helper.py:1:0: ")


def test_request_files_through_source_files() -> None:
    request = ExecutionRequest(
        code="import helper\n",
        files=[
            FileInput(path="pkg/helper.py", content="import os\nos.system('id')\n"),
            FileInput(path="data.csv", content="exec(open('x').read())\n"),
            FileInput(path="blob.bin", content="//79", encoding="base64"),
        ],
    )
    files = source_files(request, PYTHON)
    assert [(f.path, f.program) for f in files] == [
        ("main.py", True),
        ("pkg/helper.py", True),
        ("data.csv", False),
        ("blob.bin", False),
    ]
    result = validate_files(files, "python", STANDARD)
    assert {f.file for f in result.findings} == {"pkg/helper.py"}
    assert ("name.qualified_denied", "deny", 2, 0) in where(list(result.findings))


def test_non_program_files_are_not_parsed() -> None:
    files = [SourceFile("main.py", "print(1)\n"), SourceFile("data.csv", "exec(\nimport subprocess\n", program=False)]
    result = validate_files(files, "python", STANDARD)
    assert result.allowed and not result.findings
    # a program file without a .py suffix is not Python either (text rules only)
    files = [SourceFile("main.py", "print(1)\n"), SourceFile("notes.txt", "exec(\n", program=True)]
    assert validate_files(files, "python", STANDARD).allowed


# -------------------------------------------------------------- bash text rules


def bash(code: str) -> Verdict:
    return validate_files([SourceFile("main.sh", code)], "bash", STANDARD)


def test_bash_dev_tcp_denies_with_its_line() -> None:
    result = bash("echo hi\ncat < /dev/tcp/10.0.0.1/80\n")
    assert not result.allowed
    assert only(result) == ("bash.network_device", "deny", 2, 0)
    assert result.findings[0].file == "main.sh"
    assert only(bash("exec 3<>/dev/udp/1.1.1.1/53\n")) == ("bash.network_device", "deny", 1, 0)


def test_bash_network_and_privilege_tools_warn() -> None:
    result = bash("curl http://example.com\n")
    assert result.allowed
    assert only(result) == ("bash.network_tool", "warn", 1, 0)
    assert only(bash("echo a; wget x\n")) == ("bash.network_tool", "warn", 1, 0)
    assert only(bash("sudo ls\n")) == ("bash.privilege_tool", "warn", 1, 0)
    assert bash("echo curling is a sport\nprintf 'sudoku\\n'\n").findings == ()


def test_bash_tool_on_a_later_line_gets_its_own_line() -> None:
    assert only(bash("echo hi\ncurl http://example.com\n")) == ("bash.network_tool", "warn", 2, 0)
    assert only(bash("set -e\n\nsudo ls\n")) == ("bash.privilege_tool", "warn", 3, 0)


def test_bash_rules_do_not_apply_to_python() -> None:
    assert verdict("s = 'cat < /dev/tcp/1.2.3.4/80'\nt = 'curl x'\n").allowed
    # and Python rules do not apply to bash
    assert bash("exec('x')\nimport subprocess\n").allowed


# ------------------------------------------------------------------- cache


def test_validator_caches_by_code_language_policy_and_version() -> None:
    validator = Validator()
    files = [SourceFile("main.py", "import subprocess\n")]
    first = validator.validate(files, "python", STANDARD)
    second = validator.validate(files, "python", STANDARD)
    assert not first.cached and second.cached
    assert second.findings == first.findings and second.allowed == first.allowed
    assert not validator.validate(files, "python", PERMISSIVE).cached
    bumped = STANDARD.model_copy(update={"version": STANDARD.version + 1})
    assert not validator.validate(files, "python", bumped).cached
    assert validator.validate(files, "python", bumped).cached
    changed = [SourceFile("main.py", "import subprocess \n")]
    assert not validator.validate(changed, "python", STANDARD).cached
    renamed = [SourceFile("main2.py", "import subprocess\n")]
    assert not validator.validate(renamed, "python", STANDARD).cached
    assert not validator.validate(files, "bash", STANDARD).cached


def test_cache_key_covers_every_file() -> None:
    validator = Validator()
    main = SourceFile("main.py", "import helper\n")
    clean = validator.validate([main, SourceFile("helper.py", "x = 1\n")], "python", STANDARD)
    dirty = validator.validate([main, SourceFile("helper.py", "import pickle\n")], "python", STANDARD)
    assert clean.allowed and not dirty.allowed and not dirty.cached
    # moving text between files is a different request
    a = validator.validate([SourceFile("a.py", "xy"), SourceFile("b.py", "z")], "python", STANDARD)
    b = validator.validate([SourceFile("a.py", "x"), SourceFile("b.py", "yz")], "python", STANDARD)
    assert not a.cached and not b.cached


def test_cache_is_bounded_and_handles_surrogates() -> None:
    validator = Validator(cache_size=2)
    codes = ["a = 1", "b = 2", "c = 3"]
    for code in codes:
        validator.validate([SourceFile("main.py", code)], "python", STANDARD)
    assert not validator.validate([SourceFile("main.py", "a = 1")], "python", STANDARD).cached  # evicted
    assert validator.validate([SourceFile("main.py", "c = 3")], "python", STANDARD).cached
    surrogate = [SourceFile("main.py", "x = '\ud800'")]
    assert not validator.validate(surrogate, "python", STANDARD).allowed
    assert validator.validate(surrogate, "python", STANDARD).cached


# ------------------------------------------------------------------- bandit


def test_bandit_shell_true_warns_under_permissive() -> None:
    result = verdict("import subprocess\nsubprocess.call('x', shell=True)\n", PERMISSIVE)
    assert result.allowed
    bandit = [f for f in result.findings if f.source == "bandit"]
    shell = [f for f in bandit if f.rule_id in ("B602", "B604", "B605")]
    assert shell and all(f.action == "warn" and (f.line, f.col) == (2, 0) for f in shell), where(bandit)


def test_bandit_eval_denies_under_standard() -> None:
    found = [f for f in findings("x = eval('1 + 1')\n") if f.source == "bandit"]
    assert where(found) == [("B307", "deny", 1, 4)]
    assert "bandit B307" in found[0].message


@pytest.mark.parametrize("comment", ["# nosec", "# nosec B307", "# nosec: B307", "#nosec"])
def test_nosec_does_not_suppress_bandit(comment: str) -> None:
    found = [f for f in findings(f"x = eval('1')  {comment}\n") if f.source == "bandit"]
    assert where(found) == [("B307", "deny", 1, 4)]


def test_nosec_does_not_suppress_shell_findings() -> None:
    found = findings("import os\nos.popen('ls')  # nosec\n")
    assert ("B605", "deny", 2, 0) in where(found)


def test_bandit_weak_hash_does_not_deny() -> None:
    result = verdict("import hashlib\nprint(hashlib.md5(b'x').hexdigest(), hashlib.sha1(b'x').hexdigest())\n")
    assert result.allowed, where(list(result.findings))


def test_bandit_sees_imports_through_aliases() -> None:
    found = findings("import subprocess as sp\nsp.Popen('ls', shell=True)\n", PERMISSIVE)
    assert "B602" in [f.rule_id for f in found]


# ------------------------------------------------------------ RestrictedPython


def test_strict_denies_except_star() -> None:
    # CVE-2025-22153: try/except* type confusion; RestrictedPython 8 refuses TryStar.
    result = verdict("try:\n    pass\nexcept* ValueError:\n    pass\n", STRICT)
    assert not result.allowed
    restricted = [f for f in result.findings if f.source == "restricted"]
    assert restricted and restricted[0].rule_id == "restricted.compile" and restricted[0].line == 1
    assert verdict("try:\n    pass\nexcept* ValueError:\n    pass\n", STANDARD).allowed


def test_strict_denies_underscore_attributes() -> None:
    result = verdict("x = 1\ny = x.__class__\n", STRICT)
    restricted = [f for f in result.findings if f.source == "restricted"]
    assert [(f.rule_id, f.action, f.line) for f in restricted] == [("restricted.compile", "deny", 2)]
    assert "__class__" in restricted[0].message
    assert verdict("x = 1\ny = x.__class__\n", STANDARD).allowed


def test_strict_allows_plain_code() -> None:
    result = verdict("import math\nprint(sum(math.sqrt(i) for i in range(10)))\n", STRICT)
    assert result.allowed, where(list(result.findings))


# ------------------------------------------------------------- fail closed


def test_an_internal_error_in_a_stage_denies(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(self: RuleChecker, *args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(RuleChecker, "check", explode)
    files = [SourceFile("main.py", "print(1)\n"), SourceFile("helper.py", "x = 1\n")]
    result = validate_files(files, "python", STANDARD)
    assert not result.allowed and not result.syntax_error
    assert [(f.rule_id, f.action, f.file, f.source) for f in result.findings] == [
        ("validator.error", "deny", "main.py", "policy"),
        ("validator.error", "deny", "helper.py", "policy"),
    ]
    assert result.findings[0].message == "validator failed: RuntimeError"


def test_an_internal_error_in_bandit_denies(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: object) -> None:
        raise KeyError("bandit")

    monkeypatch.setattr(pipeline_module, "bandit_findings", explode)
    result = verdict("print(1)\n")
    assert only(result) == ("validator.error", "deny", 0, 0)


def test_recursion_in_a_stage_is_too_complex(monkeypatch: pytest.MonkeyPatch) -> None:
    def recurse(*args: object) -> None:
        raise RecursionError

    monkeypatch.setattr(pipeline_module, "restricted_findings", recurse)
    assert only(verdict("print(1)\n", STRICT)) == ("parse.too_complex", "deny", 0, 0)


def test_one_bad_file_does_not_hide_another(monkeypatch: pytest.MonkeyPatch) -> None:
    real = pipeline_module._validate_one

    def flaky(f: SourceFile, language: str, policy: Policy):  # type: ignore[no-untyped-def]
        if f.path == "main.py":
            raise ValueError("boom")
        return real(f, language, policy)

    monkeypatch.setattr(pipeline_module, "_validate_one", flaky)
    files = [SourceFile("main.py", "x = 1\n"), SourceFile("helper.py", "import ctypes\n")]
    result = validate_files(files, "python", STANDARD)
    assert [(f.rule_id, f.file) for f in result.findings] == [
        ("validator.error", "main.py"),
        ("import.denied", "helper.py"),
    ]


@pytest.mark.anyio
async def test_service_validation_timeout_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(validation_timeout_s=0.2)
    backend = FakeBackend(lambda spec: RunOutcome(status=Status.OK, exit_code=0))
    service = ExecutionService(settings, backend, CATALOG, POLICIES, warm=False)

    def slow(*args: object) -> Verdict:
        time.sleep(1)
        return Verdict(True, (), "standard", 1)

    monkeypatch.setattr(service.validator, "validate", slow)
    try:
        result = await service.check(ExecutionRequest(code="print(1)\n"))
    finally:
        await service.aclose()
    assert not result.allowed
    assert [(f.rule_id, f.action) for f in result.findings] == [("validator.timeout", "deny")]
    assert backend.specs == []


# ------------------------------------------------------------------ summary


def test_verdict_summary() -> None:
    assert verdict("print(1)\n").summary() == "allowed"
    result = verdict("import subprocess\nimport pickle\n")
    assert result.summary().startswith("main.py:1:0: import of module 'subprocess' is denied")
    assert result.summary().endswith("[import.denied] (+1 more)")
    assert (result.policy, result.policy_version) == ("standard", STANDARD.version)
