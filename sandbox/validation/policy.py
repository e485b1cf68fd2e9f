"""Validation policies: one YAML file per tier in ``policies/``, loaded into ``Policy``.

Files are read with YAML's safe loader only (libyaml's ``CSafeLoader`` when PyYAML has
it). Unknown keys and wrong types are errors that name the file and the key, so a typo
never silently weakens a tier.
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
#: ``yaml.safe_load``'s loader, libyaml's when available: the standard policy parses in a third of the time.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


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


class Capability(_Section):
    """One capability a tier denies (opening sockets, starting processes, ...) and every route to it the rules see.

    Each list adds to the rule of the same kind; a finding from a capability names
    its ``reason``. A ``qualified`` pattern starting with ``!`` exempts the names it
    matches from every qualified pattern (``multiprocessing.*`` but not
    ``!multiprocessing.cpu_count``).
    """

    reason: str = Field(..., description="What the capability does, for findings: 'starts processes'.")
    modules: tuple[str, ...] = Field((), description="Denied on import and wherever a name resolves into them.")
    qualified: tuple[str, ...] = Field((), description="Dotted-name glob patterns; '!pattern' exempts.")
    attributes: tuple[str, ...] = Field((), description="Attribute names denied on any object, as strings too.")
    detached: tuple[str, ...] = Field((), description="Names denied where the object is not visible.")
    arguments: dict[str, dict[str, int]] = Field(
        default_factory=dict,
        description="Keyword -> {callable: position}: the keyword is denied in any call unless literally "
        "False/None; the callables are also checked for it positionally, through * and **, and as values.",
    )
    templates: tuple[str, ...] = Field((), description="Methods whose receiver is a str.format template.")
    expressions: tuple[str, ...] = Field(
        (), description="Methods whose first argument is an expression evaluated with name lookups (pandas)."
    )
    url_readers: tuple[str, ...] = Field((), description="Callable names (globs) that open a URL given to them.")


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
    capabilities: dict[str, Capability] = Field(
        default_factory=dict, description="Capabilities denied by name (network, process, ...): see Capability."
    )

    @cached_property
    def qualified_patterns(self) -> re.Pattern[str] | None:
        patterns = [*self.qualified, *(p for c in self.capabilities.values() for p in c.qualified)]
        deny = [p for p in patterns if not p.startswith("!")]
        if not deny:
            return None
        body = _globs(deny)
        exempt = [p[1:] for p in patterns if p.startswith("!")]
        # fullmatch anchors the lookahead at the start: an exempt name matches nothing.
        return re.compile(f"(?!{_globs(exempt)})(?:{body})" if exempt else body)

    @cached_property
    def detached_patterns(self) -> re.Pattern[str] | None:
        patterns = [*self.detached_attributes, *(p for c in self.capabilities.values() for p in c.detached)]
        return re.compile(_globs(patterns)) if patterns else None

    @cached_property
    def capability_modules(self) -> dict[str, str]:
        """Module -> why it is denied: the deny list's and the capabilities' modules."""
        denied = dict.fromkeys(self.modules.deny, "denied by the policy")
        for name, capability in self.capabilities.items():
            denied.update(dict.fromkeys(capability.modules, f"denied: it {capability.reason} ({name})"))
        return denied

    def denied_module(self, qualified: str) -> tuple[str, str] | None:
        """(module, reason) if ``qualified`` is a denied module or lies inside one, else None."""
        denied = self.capability_modules
        end = len(qualified)
        while end > 0:
            prefix = qualified[:end]
            if prefix in denied:
                return prefix, denied[prefix]
            end = qualified.rfind(".", 0, end)
        return None

    @cached_property
    def argument_callables(self) -> dict[str, tuple[str, int, str]]:
        """Callable -> (keyword, its position, reason), for the capabilities' ``arguments``."""
        return {
            target: (keyword, position, capability.reason)
            for capability in self.capabilities.values()
            for keyword, targets in capability.arguments.items()
            for target, position in targets.items()
        }

    @cached_property
    def argument_keywords(self) -> dict[str, str]:
        """Keyword -> reason."""
        return {k: c.reason for c in self.capabilities.values() for k in c.arguments}

    @cached_property
    def template_methods(self) -> frozenset[str]:
        return frozenset(m for c in self.capabilities.values() for m in c.templates)

    @cached_property
    def expression_methods(self) -> frozenset[str]:
        return frozenset(m for c in self.capabilities.values() for m in c.expressions)

    @cached_property
    def url_reader_patterns(self) -> re.Pattern[str] | None:
        patterns = [p for c in self.capabilities.values() for p in c.url_readers]
        return re.compile(_globs(patterns)) if patterns else None

    @cached_property
    def _capability_attributes(self) -> dict[str, str]:
        return {a: f"it {c.reason} ({n})" for n, c in self.capabilities.items() for a in c.attributes}

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
        reason = self._capability_attributes.get(name)
        if reason is not None:
            return f"denied: {reason}"
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


def _globs(patterns: list[str]) -> str:
    """One regular expression for a list of glob patterns (each anchored by ``fnmatch.translate``)."""
    return "|".join(f"(?:{fnmatch.translate(p)})" for p in patterns)


def _within(module: str, entry: str) -> bool:
    return module == entry or module.startswith(entry + ".")


def _read(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The file's mapping, merged over the one it ``extends`` (a sibling policy)."""
    if path in seen:
        raise SandboxError(f"policy {path}: 'extends' loops through {', '.join(p.stem for p in seen)}")
    try:
        data = yaml.load(path.read_text(), Loader=_SAFE_LOADER)  # a safe loader: no python/ tags
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
