"""The validation pipeline: size and encoding -> parse -> AST rules -> bandit -> RestrictedPython.

Fail-closed: any failure inside a stage becomes a denying finding, never an
exception out of ``Validator.validate``. The text validated is exactly the text
run: the runner compiles the same UTF-8 bytes, and a coding cookie naming any
other encoding is rejected. Verdicts are cached by (code hash, language,
policy name, policy version), in a cache bounded in bytes as well as entries.

A verdict keeps at most ``max_findings`` findings, each message at most
``MAX_MESSAGE_CHARS``; a last ``findings.truncated`` finding says how many more
there were (and denies if one of those did): a program with 100,000 findings
costs neither the cache nor the response more than a few hundred.
"""

from __future__ import annotations

import ast
import codecs
import hashlib
import re
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from sandbox.models import Finding, Status
from sandbox.validation.bandit import bandit_findings
from sandbox.validation.policy import Action, Policy
from sandbox.validation.restricted import restricted_findings
from sandbox.validation.rules import MAX_CHAIN, TOO_LONG, RuleChecker, TooManyNodes, flatten

_VALIDATION_LOCK = threading.Lock()
CODING_COOKIE = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)", re.ASCII)
#: An import of a dotted name of more than MAX_CHAIN links. CPython's parser joins such a name one link
#: at a time (quadratic: 0.6 s for 32 KiB), and the rules would deny it as too long to check anyway, so
#: it is refused before parsing. Possessive quantifiers: at most MAX_CHAIN links are read per match try.
_SPACE = rb"[ \t\f\\\r\n]*+"
LONG_IMPORT = re.compile(
    rb"\b(?:import|from)" + _SPACE + rb"\w++(?:" + _SPACE + rb"\." + _SPACE + rb"\w++){%d}" % MAX_CHAIN
)
UTF8_COMPATIBLE = {"utf-8", "ascii"}
#: Findings a verdict keeps (and a response carries); the rest are counted in a last finding.
MAX_FINDINGS = 100
MAX_MESSAGE_CHARS = 300
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
    cpu_s: float = 0.0  # CPU time the pipeline took (0 when cached): what the caller's rate is charged for

    @property
    def status(self) -> Status:
        """``ok``, ``syntax_error`` or ``validation_rejected``."""
        if self.allowed:
            return Status.OK
        return Status.SYNTAX_ERROR if self.syntax_error else Status.VALIDATION_REJECTED

    @property
    def size(self) -> int:
        """Approximate bytes this verdict holds in memory (for the cache's byte cap)."""
        return 512 + sum(_FINDING_BYTES + len(f.message) + len(f.file) + len(f.rule_id) for f in self.findings)

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
#: A Finding's own size in memory beyond its strings (pydantic model, its dict, ints): 1.2 KB measured in all.
_FINDING_BYTES = 1100


class VerdictCache:
    """LRU of verdicts by (files hash, language, policy name, policy version), bounded in entries and in
    bytes (``Verdict.size``); an entry put with ``ttl_s`` expires. Thread-safe."""

    def __init__(self, size: int = 2048, max_bytes: int = 16 << 20) -> None:
        self._entries: OrderedDict[CacheKey, tuple[Verdict, int, float | None]] = OrderedDict()
        self._size = size
        self._max_bytes = max_bytes
        self.bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    @staticmethod
    def key(files: Sequence[SourceFile], language: str, policy: Policy) -> CacheKey:
        digest = hashlib.sha256()
        for f in files:
            header = f"{len(f.path)}:{f.path}:{int(f.program)}:{len(f.text)}:"
            digest.update(header.encode() + f.text.encode("utf-8", "surrogatepass"))
        return (digest.hexdigest(), language, policy.name, policy.version)

    def get(self, key: CacheKey) -> Verdict | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            verdict, size, expires = entry
            if expires is not None and time.monotonic() >= expires:
                del self._entries[key]
                self.bytes -= size
                return None
            self._entries.move_to_end(key)
        return replace(verdict, cached=True, cpu_s=0.0)

    def put(self, key: CacheKey, verdict: Verdict, ttl_s: float | None = None) -> None:
        """Keep ``verdict`` (for ``ttl_s`` seconds if given); a verdict larger than the byte cap is not kept."""
        size = verdict.size
        if size > self._max_bytes:
            return
        expires = None if ttl_s is None else time.monotonic() + ttl_s
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.bytes -= old[1]
            self._entries[key] = (verdict, size, expires)
            self.bytes += size
            while len(self._entries) > self._size or self.bytes > self._max_bytes:
                _, (_, evicted, _) = self._entries.popitem(last=False)
                self.bytes -= evicted


class Validator:
    """Runs the pipeline in this process, in front of a ``VerdictCache``."""

    def __init__(self, cache_size: int = 2048, cache_bytes: int = 16 << 20, max_findings: int = MAX_FINDINGS) -> None:
        self.cache = VerdictCache(cache_size, cache_bytes)
        self.max_findings = max_findings

    def validate(self, files: Sequence[SourceFile], language: str, policy: Policy) -> Verdict:
        key = self.cache.key(files, language, policy)
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        verdict = validate_files(files, language, policy, self.max_findings)
        self.cache.put(key, verdict)
        return verdict


def validate_files(
    files: Sequence[SourceFile], language: str, policy: Policy, max_findings: int = MAX_FINDINGS
) -> Verdict:
    """Validate every file of one request under ``policy``; never raises.

    The verdict keeps the first ``max_findings`` findings (see the module docstring)
    and the CPU time this thread spent (``cpu_s``).
    """
    started = time.thread_time()
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
    kept = _capped(findings, max_findings)
    cpu_s = time.thread_time() - started
    return Verdict(allowed, kept, policy.name, policy.version, syntax_error=syntax_error and not allowed, cpu_s=cpu_s)


def _capped(findings: list[Finding], limit: int) -> tuple[Finding, ...]:
    """The first ``limit`` findings, messages cut to ``MAX_MESSAGE_CHARS``, and one that counts the rest."""
    kept = [
        f
        if len(f.message) <= MAX_MESSAGE_CHARS
        else f.model_copy(update={"message": f.message[:MAX_MESSAGE_CHARS] + "…"})
        for f in findings[:limit]
    ]
    rest = findings[limit:]
    if rest:
        denied = sum(1 for f in rest if f.action == "deny")
        message = f"and {len(rest)} more findings not shown ({denied} of them deny); only the first {limit} are kept"
        kept.append(
            Finding(rule_id="findings.truncated", action="deny" if denied else "warn", message=message, source="policy")
        )
    return tuple(kept)


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
    if LONG_IMPORT.search(data):
        findings.append(_finding("source.too_complex", f"an import of {TOO_LONG}", f))
        return findings, False
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
