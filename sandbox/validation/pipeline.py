"""The validation pipeline: size and encoding -> parse -> AST rules -> bandit -> RestrictedPython.

Fail-closed: any failure inside a stage becomes a denying finding, never an
exception out of ``Validator.validate``. The text validated is exactly the text
run: the runner compiles the same UTF-8 bytes, and a coding cookie naming any
other encoding is rejected. Verdicts are cached by (code hash, language,
policy name, policy version).
"""

from __future__ import annotations

import ast
import codecs
import hashlib
import re
import threading
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from sandbox.models import Finding, Status
from sandbox.validation.bandit import bandit_findings
from sandbox.validation.policy import Action, Policy
from sandbox.validation.restricted import restricted_findings
from sandbox.validation.rules import RuleChecker, TooManyNodes, flatten

_VALIDATION_LOCK = threading.Lock()
CODING_COOKIE = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)", re.ASCII)
UTF8_COMPATIBLE = {"utf-8", "ascii"}
#: Files Python can import but the validator cannot read.
UNVALIDATABLE_SUFFIXES = (".pyc", ".pyo", ".so", ".pyd", ".zip", ".egg", ".whl", ".pth")


@dataclass(frozen=True)
class SourceFile:
    """One file of a request. ``program``: code of the request's language (main file or
    its suffix), which gets the full pipeline; other files only get the file-name checks."""

    path: str
    text: str
    program: bool = True


@dataclass(frozen=True)
class Verdict:
    """The pipeline's answer: allowed or not, and every finding."""

    allowed: bool
    findings: tuple[Finding, ...]
    policy: str
    policy_version: int
    syntax_error: bool = False
    cached: bool = False

    @property
    def status(self) -> Status:
        """``ok``, ``syntax_error`` or ``validation_rejected``."""
        if self.allowed:
            return Status.OK
        return Status.SYNTAX_ERROR if self.syntax_error else Status.VALIDATION_REJECTED

    @property
    def denials(self) -> list[Finding]:
        return [f for f in self.findings if f.action == "deny"]

    def summary(self) -> str:
        """One line naming the first denial, for messages."""
        denials = self.denials
        if not denials:
            return "allowed"
        first = denials[0]
        more = f" (+{len(denials) - 1} more)" if len(denials) > 1 else ""
        return f"{first.file}:{first.line}:{first.col}: {first.message} [{first.rule_id}]{more}"


CacheKey = tuple[str, str, str, int]


class VerdictCache:
    """Bounded LRU of verdicts by (files hash, language, policy name, policy version); thread-safe."""

    def __init__(self, size: int = 2048) -> None:
        self._entries: OrderedDict[CacheKey, Verdict] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    @staticmethod
    def key(files: Sequence[SourceFile], language: str, policy: Policy) -> CacheKey:
        digest = hashlib.sha256()
        for f in files:
            header = f"{len(f.path)}:{f.path}:{int(f.program)}:{len(f.text)}:"
            digest.update(header.encode() + f.text.encode("utf-8", "surrogatepass"))
        return (digest.hexdigest(), language, policy.name, policy.version)

    def get(self, key: CacheKey) -> Verdict | None:
        with self._lock:
            hit = self._entries.get(key)
            if hit is None:
                return None
            self._entries.move_to_end(key)
        return replace(hit, cached=True)

    def put(self, key: CacheKey, verdict: Verdict) -> None:
        with self._lock:
            self._entries[key] = verdict
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)


class Validator:
    """Runs the pipeline in this process, in front of a ``VerdictCache``."""

    def __init__(self, cache_size: int = 2048) -> None:
        self.cache = VerdictCache(cache_size)

    def validate(self, files: Sequence[SourceFile], language: str, policy: Policy) -> Verdict:
        key = self.cache.key(files, language, policy)
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        verdict = validate_files(files, language, policy)
        self.cache.put(key, verdict)
        return verdict


def validate_files(files: Sequence[SourceFile], language: str, policy: Policy) -> Verdict:
    """Validate every file of one request under ``policy``; never raises."""
    findings: list[Finding] = []
    syntax_error = False
    for f in files:
        try:
            # The verdict must not depend on the process's warning filters: under `-W error` an
            # invalid escape (a DeprecationWarning from the parser) or a library's deprecation
            # warning would become an exception. catch_warnings is process-wide state, hence the lock.
            with _VALIDATION_LOCK, warnings.catch_warnings():
                warnings.simplefilter("ignore")
                file_findings, bad_syntax = _validate_one(f, language, policy)
        except Exception as exc:
            file_findings, bad_syntax = (
                [_finding("validator.error", f"validator failed: {type(exc).__name__}", f)],
                False,
            )
        findings.extend(file_findings)
        syntax_error |= bad_syntax
    if not policy.enforce:
        findings = [replace_action(x, "warn") for x in findings if not x.rule_id.startswith("syntax.")] + [
            x for x in findings if x.rule_id.startswith("syntax.")
        ]
    allowed = not any(x.action == "deny" for x in findings)
    return Verdict(allowed, tuple(findings), policy.name, policy.version, syntax_error=syntax_error and not allowed)


def replace_action(finding: Finding, action: Action) -> Finding:
    return finding.model_copy(update={"action": action})


def _finding(
    rule_id: str,
    message: str,
    f: SourceFile,
    line: int = 0,
    col: int = 0,
    source: Literal["ast", "bandit", "restricted", "policy"] = "policy",
) -> Finding:
    return Finding(rule_id=rule_id, message=message, line=line, col=col, source=source, file=f.path)


def _validate_one(f: SourceFile, language: str, policy: Policy) -> tuple[list[Finding], bool]:
    """Findings for one file, and whether it failed to parse."""
    if language == "python" and f.path.endswith(UNVALIDATABLE_SUFFIXES):
        return [_finding("file.unvalidatable", "Python could import this file, but it cannot be validated", f)], False
    if not f.program:
        return [], False
    try:
        data = f.text.encode("utf-8")
    except UnicodeEncodeError:
        return [_finding("source.encoding", "the source is not valid UTF-8 (lone surrogate)", f)], False
    caps = policy.source
    if len(data) > caps.max_bytes:
        return [_finding("source.too_large", f"{len(data)} bytes exceeds the policy cap of {caps.max_bytes}", f)], False
    lines = data.count(b"\n") + 1
    if lines > caps.max_lines:
        return [
            _finding("source.too_many_lines", f"{lines} lines exceeds the policy cap of {caps.max_lines}", f)
        ], False

    findings = [
        _finding(rule.id, rule.message, f, line=_line_of(_first_visible(match), f.text)).model_copy(
            update={"action": rule.action}
        )
        for rule in policy.text_rules
        if language in rule.languages
        for match in [re.search(rule.pattern, f.text, re.MULTILINE)]
        if match
    ]
    is_python = language == "python" and (f.path.endswith(".py") or f.path == "main.py")
    if language == "python" and f.path.endswith(UNVALIDATABLE_SUFFIXES):
        findings.append(
            _finding("file.unvalidatable", f"{f.path}: Python could import it, but it cannot be validated", f)
        )
    if not is_python:
        return findings, False

    for line in data.split(b"\n", 2)[:2]:
        cookie = CODING_COOKIE.match(line)
        if cookie:
            try:
                name = codecs.lookup(cookie.group(1).decode()).name
            except LookupError:
                name = cookie.group(1).decode()
            if name not in UTF8_COMPATIBLE:
                findings.append(
                    _finding("source.encoding", f"coding cookie {name!r}: only UTF-8 source is accepted", f)
                )
                return findings, False
            break
    try:
        tree = ast.parse(data, filename=f.path)
    except SyntaxError as exc:
        message = f"{type(exc).__name__}: {exc.msg}"
        col = max((exc.offset or 1) - 1, 0)
        findings.append(_finding("syntax.error", message, f, exc.lineno or 0, col, "ast"))
        return findings, True
    except ValueError as exc:  # e.g. null bytes (3.11)
        findings.append(_finding("syntax.error", f"SyntaxError: {exc}", f, source="ast"))
        return findings, True
    except (RecursionError, MemoryError, OverflowError) as exc:
        findings.append(_finding("parse.too_complex", f"too deeply nested to analyse ({type(exc).__name__})", f))
        return findings, False

    try:
        nodes = flatten(tree, caps.max_ast_nodes)
    except TooManyNodes:
        findings.append(_finding("source.too_complex", f"more than {caps.max_ast_nodes} syntax nodes", f))
        return findings, False
    try:
        findings.extend(RuleChecker(policy.python, f.path).check(nodes))
        findings.extend(bandit_findings(tree, nodes, data, policy.bandit, f.path))
        if policy.python.restricted_python:
            findings.extend(restricted_findings(f.text, f.path))
    except (RecursionError, MemoryError) as exc:
        findings.append(_finding("parse.too_complex", f"too deeply nested to analyse ({type(exc).__name__})", f))
    return findings, False


def _first_visible(match: re.Match[str]) -> int:
    """Offset of the match's first non-blank character (a rule may match the newline before it)."""
    matched = match.group(0)
    return match.start() + len(matched) - len(matched.lstrip())


def _line_of(offset: int, text: str) -> int:
    return text.count("\n", 0, offset) + 1
