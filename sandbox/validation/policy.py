"""Validation policies: one YAML file per tier in ``policies/``, loaded into ``Policy``.

Files are read with ``yaml.safe_load`` only. Unknown keys and wrong types are
errors that name the file and the key, so a typo never silently weakens a tier.
"""

from __future__ import annotations

import fnmatch
import re
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sandbox.errors import RequestRejected, SandboxError
from sandbox.models import Limits

Severity = Literal["low", "medium", "high"]
Action = Literal["deny", "warn"]
SEVERITY_RANK = {"low": 1, "medium": 2, "high": 3}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceRules(_Section):
    """Caps checked before parsing."""

    max_bytes: int = Field(256 << 10, gt=0)
    max_lines: int = Field(20_000, gt=0)
    max_ast_nodes: int = Field(200_000, gt=0)


class ModuleRules(_Section):
    """A module matches an entry when it is that module or one of its submodules."""

    deny: tuple[str, ...] = ()
    allow: tuple[str, ...] | None = None  # None: everything not denied; a list: only these

    def verdict(self, module: str) -> str | None:
        """None when allowed, else the reason."""
        if any(_within(module, entry) for entry in self.deny):
            return "denied"
        if self.allow is not None and not any(_within(module, entry) for entry in self.allow):
            return "not in the allowlist"
        return None


class PythonRules(_Section):
    """AST rules for Python."""

    modules: ModuleRules = ModuleRules()
    names: tuple[str, ...] = Field((), description="Builtins and global names that may not be used at all.")
    qualified: tuple[str, ...] = Field((), description="Dotted names (glob patterns) through imports, e.g. os.exec*.")
    attributes: tuple[str, ...] = Field((), description="Attribute names that may not be read, written or deleted.")
    attribute_modules: frozenset[str] = Field(
        frozenset(), description="Module names also denied as an attribute of an imported module (x.subprocess)."
    )
    detached_attributes: tuple[str, ...] = Field(
        (), description="Names (glob patterns) denied where the object is not visible: attrgetter, match, getattr(var)."
    )
    deny_dunder_attributes: bool = True
    allowed_dunders: tuple[str, ...] = ()
    dynamic_attributes: Literal["deny", "warn", "allow"] = "deny"
    restricted_python: bool = False

    @cached_property
    def qualified_patterns(self) -> re.Pattern[str] | None:
        if not self.qualified:
            return None
        return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in self.qualified))

    @cached_property
    def detached_patterns(self) -> re.Pattern[str] | None:
        if not self.detached_attributes:
            return None
        return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in self.detached_attributes))

    def detached_verdict(self, name: str) -> bool:
        patterns = self.detached_patterns
        return patterns is not None and patterns.fullmatch(name) is not None

    @cached_property
    def _verdicts(self) -> dict[str, str | None]:
        return {}

    def attribute_verdict(self, name: str) -> str | None:
        """None when ``name`` may be read, else why not (memoised: called for every attribute)."""
        verdicts = self._verdicts
        if name not in verdicts:
            if len(verdicts) > 10_000:
                verdicts.clear()
            verdicts[name] = self._attribute_verdict(name)
        return verdicts[name]

    def _attribute_verdict(self, name: str) -> str | None:
        if name in self.attributes:
            return "denied"
        if (
            self.deny_dunder_attributes
            and name.startswith("__")
            and name.endswith("__")
            and name not in self.allowed_dunders
        ):
            return "a dunder attribute outside the safe list"
        return None


class BanditRules(_Section):
    """Which bandit findings are reported, and which of them deny."""

    enabled: bool = True
    severity: Severity = "low"
    confidence: Severity = "low"
    deny: tuple[str, ...] = Field((), description="Bandit test ids whose findings deny.")
    deny_severity: Severity | None = Field(None, description="Any finding at or above this severity denies.")
    include: tuple[str, ...] | None = Field(None, description="Only these bandit tests run (None: all of them).")
    skip: tuple[str, ...] = ()


class TextRule(_Section):
    """A regular expression on the source text, for languages without AST rules."""

    id: str
    pattern: str
    action: Action = "deny"
    message: str
    languages: tuple[str, ...] = ("bash",)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from exc
        return pattern


class PolicyLimits(_Section):
    """Limits for runs under this policy; the server's maxima still cap them."""

    defaults: Limits = Limits()
    maxima: Limits = Limits()


class Policy(_Section):
    """One validation tier."""

    name: str = Field(..., pattern=r"^[a-z][a-z0-9_-]{0,63}$")
    version: int = Field(..., ge=1)
    description: str = ""
    strictness: int = Field(..., ge=0, description="Higher is stricter; a key may only ask for stricter tiers.")
    enforce: bool = Field(True, description="False: findings are reported as warnings, nothing is denied.")
    languages: tuple[str, ...] | None = Field(
        None,
        description="The languages this tier runs (None: every installed one). A tier that validates only "
        "Python must not let a caller pick a language its rules do not cover.",
    )
    source: SourceRules = SourceRules()
    python: PythonRules = PythonRules()
    bandit: BanditRules = BanditRules()
    text_rules: tuple[TextRule, ...] = ()
    limits: PolicyLimits = PolicyLimits()


def _within(module: str, entry: str) -> bool:
    return module == entry or module.startswith(entry + ".")


def _read(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The file's mapping, merged over the one it ``extends`` (a sibling policy)."""
    if path in seen:
        raise SandboxError(f"policy {path}: 'extends' loops through {', '.join(p.stem for p in seen)}")
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise SandboxError(f"policy {path}: cannot read: {exc}") from exc
    if not isinstance(data, dict):
        raise SandboxError(f"policy {path}: the top level must be a mapping")
    base_name = data.pop("extends", None)
    if base_name is None:
        return data
    if not isinstance(base_name, str) or not re.fullmatch(r"[a-z][a-z0-9_-]*", base_name):
        raise SandboxError(f"policy {path}: extends: must name a policy in the same directory")
    return _merge(_read(path.with_name(f"{base_name}.yaml"), (*seen, path)), data)


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Mappings merge key by key; anything else in ``override`` replaces the base value."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_policy(path: Path) -> Policy:
    """Load one policy file; errors name the file and the offending key."""
    data = _read(path)
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(top)'}: {e['msg']}" for e in exc.errors())
        raise SandboxError(f"policy {path}: {problems}") from exc
    if policy.name != path.stem:
        raise SandboxError(f"policy {path}: name {policy.name!r} must match the file name {path.stem!r}")
    return policy


class PolicySet:
    """Every policy in a directory, by name."""

    def __init__(self, directory: Path, default: str) -> None:
        self.directory = directory
        self.policies = {p.name: p for p in map(load_policy, sorted(directory.glob("*.yaml")))}
        if default not in self.policies:
            raise SandboxError(f"default policy {default!r} not found in {directory}")
        self.default = default

    def get(self, name: str | None) -> Policy:
        """The named policy (default when None); ``RequestRejected`` lists the choices."""
        policy = self.policies.get(name or self.default)
        if policy is None:
            raise RequestRejected(f"unknown policy {name!r}; available: {', '.join(sorted(self.policies))}")
        return policy
