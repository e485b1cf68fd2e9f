"""Shared helpers for the validation unit tests: the shipped policies and one-call validation."""

from __future__ import annotations

from sandbox.config import Settings
from sandbox.models import Finding
from sandbox.validation import Policy, PolicySet, SourceFile, Verdict, validate_files

POLICIES = PolicySet(Settings().policies_dir, "standard")
STANDARD = POLICIES.get("standard")
PERMISSIVE = POLICIES.get("permissive")
STRICT = POLICIES.get("strict")


def verdict(code: str, policy: Policy | str = STANDARD, path: str = "main.py", language: str = "python") -> Verdict:
    """Validate one main file."""
    if isinstance(policy, str):
        policy = POLICIES.get(policy)
    return validate_files([SourceFile(path, code)], language, policy)


def findings(code: str, policy: Policy | str = STANDARD, rule_id: str | None = None) -> list[Finding]:
    """The findings for ``code``, optionally only those with ``rule_id``."""
    return [f for f in verdict(code, policy).findings if rule_id is None or f.rule_id == rule_id]


def where(found: list[Finding]) -> list[tuple[str, str, int, int]]:
    """(rule_id, action, line, col) of each finding: compact for assertions and failure messages."""
    return [(f.rule_id, f.action, f.line, f.col) for f in found]
