"""Policy files (sandbox/validation/policy.py): loading, ``extends``, strict schema, the shipped tiers."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from sandbox.config import Settings
from sandbox.errors import RequestRejected, SandboxError
from sandbox.limits import resolve_limits
from sandbox.models import Limits
from sandbox.validation import PolicySet, load_policy
from tests.unit.validation.util import POLICIES, STANDARD, STRICT

SHIPPED = Settings().policies_dir


def write(directory: Path, name: str, body: str) -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(textwrap.dedent(body))
    return path


BASE = """\
name: base
version: 3
strictness: 5
python:
  modules:
    deny: [subprocess, pickle]
  names: [exec, eval]
  allowed_dunders: [__init__]
bandit:
  confidence: high
  deny: [B102]
"""


# ---------------------------------------------------------------- shipped tiers


def test_the_three_shipped_policies_load() -> None:
    policies = PolicySet(SHIPPED, "standard")
    assert set(policies.policies) == {"permissive", "standard", "strict"}
    for name, policy in policies.policies.items():
        assert policy.name == name
        assert policy.version >= 1
    assert policies.get("permissive").strictness < policies.get("standard").strictness < STRICT.strictness


def test_get_none_is_the_default_and_unknown_names_list_the_choices() -> None:
    assert POLICIES.get(None) is POLICIES.get("standard")
    assert PolicySet(SHIPPED, "strict").get(None).name == "strict"
    with pytest.raises(RequestRejected) as caught:
        POLICIES.get("paranoid")
    message = str(caught.value.message)
    assert "'paranoid'" in message and "permissive, standard, strict" in message


def test_missing_default_is_an_error() -> None:
    with pytest.raises(SandboxError, match="default policy 'nope' not found"):
        PolicySet(SHIPPED, "nope")


def test_permissive_reports_only() -> None:
    permissive = POLICIES.get("permissive")
    assert permissive.enforce is False
    assert STANDARD.enforce is True and STRICT.enforce is True
    # it extends standard: the same rules run, they just do not deny
    assert permissive.python == STANDARD.python
    assert permissive.bandit == STANDARD.bandit


def test_strict_has_an_allowlist_and_restricted_python() -> None:
    assert STRICT.python.restricted_python is True
    assert STANDARD.python.restricted_python is False
    allow = STRICT.python.modules.allow
    assert allow is not None and {"math", "numpy", "pandas", "matplotlib"} <= set(allow)
    assert "os" not in allow and "sys" not in allow
    assert STANDARD.python.modules.allow is None
    # lists are replaced, mappings merged: strict keeps standard's deny list and caps
    assert STRICT.python.modules.deny == STANDARD.python.modules.deny
    assert STRICT.source == STANDARD.source
    assert "obj" in STRICT.python.attributes and "obj" not in STANDARD.python.attributes


def test_module_verdicts() -> None:
    modules = STRICT.python.modules
    assert modules.verdict("math") is None
    assert modules.verdict("numpy.linalg") is None  # a submodule of an allowed module
    assert modules.verdict("numpyx") == "not in the allowlist"  # a prefix is not a parent
    assert modules.verdict("subprocess") == "denied"
    assert STANDARD.python.modules.verdict("http.client.x") == "denied"
    assert STANDARD.python.modules.verdict("http") is None


def test_policy_limits_lower_the_server_maxima() -> None:
    settings = Settings()
    assert STRICT.limits.maxima.wall_time_s == 30 < settings.max_wall_time_s
    effective = resolve_limits(Limits(), settings, STRICT.limits.defaults, STRICT.limits.maxima)
    assert effective.wall_time_s == settings.wall_time_s  # the default fits under the policy maximum
    assert effective.memory_mb == min(settings.memory_mb, 512)
    assert resolve_limits(Limits(wall_time_s=30), settings, STRICT.limits.defaults, STRICT.limits.maxima)
    with pytest.raises(RequestRejected, match="wall_time_s=45 exceeds the policy maximum 30"):
        resolve_limits(Limits(wall_time_s=45), settings, STRICT.limits.defaults, STRICT.limits.maxima)
    with pytest.raises(RequestRejected, match="memory_mb=1024 exceeds the policy maximum 512"):
        resolve_limits(Limits(memory_mb=1024), settings, STRICT.limits.defaults, STRICT.limits.maxima)
    # standard sets no maxima: the server's apply
    assert resolve_limits(Limits(wall_time_s=45), settings, STANDARD.limits.defaults, STANDARD.limits.maxima)


def test_policy_maxima_never_raise_the_server_maximum(tmp_path: Path) -> None:
    write(tmp_path, "loose", "name: loose\nversion: 1\nstrictness: 0\nlimits:\n  maxima:\n    wall_time_s: 999\n")
    loose = load_policy(tmp_path / "loose.yaml")
    settings = Settings()
    with pytest.raises(RequestRejected, match="exceeds the server maximum"):
        resolve_limits(Limits(wall_time_s=500), settings, loose.limits.defaults, loose.limits.maxima)


# -------------------------------------------------------------------- extends


def test_extends_merges_mappings_and_replaces_lists(tmp_path: Path) -> None:
    write(tmp_path, "base", BASE)
    write(
        tmp_path,
        "child",
        """\
        extends: base
        name: child
        strictness: 7
        python:
          modules:
            deny: [ctypes]
          allowed_dunders: []
        bandit:
          deny: [B307]
        """,
    )
    child = load_policy(tmp_path / "child.yaml")
    assert (child.name, child.version, child.strictness) == ("child", 3, 7)  # version inherited
    assert child.python.modules.deny == ("ctypes",)  # list replaced, not appended
    assert child.python.names == ("exec", "eval")  # sibling key of a merged mapping kept
    assert child.python.allowed_dunders == ()
    assert child.bandit.deny == ("B307",)
    assert child.bandit.confidence == "high"  # merged from base


def test_extends_chains(tmp_path: Path) -> None:
    write(tmp_path, "base", BASE)
    write(tmp_path, "mid", "extends: base\nname: mid\npython:\n  names: [compile]\n")
    write(tmp_path, "top", "extends: mid\nname: top\nenforce: false\n")
    top = load_policy(tmp_path / "top.yaml")
    assert top.python.names == ("compile",)
    assert top.python.modules.deny == ("subprocess", "pickle")
    assert top.enforce is False


@pytest.mark.parametrize(
    "files",
    [
        {"a": "extends: a\nname: a\nversion: 1\nstrictness: 0\n"},
        {"a": "extends: b\nname: a\n", "b": "extends: a\nname: b\nversion: 1\nstrictness: 0\n"},
        {"a": "extends: b\nname: a\n", "b": "extends: c\nname: b\n", "c": "extends: a\nname: c\n"},
    ],
    ids=["self", "two", "three"],
)
def test_a_loop_in_extends_is_an_error(tmp_path: Path, files: dict[str, str]) -> None:
    for name, body in files.items():
        write(tmp_path, name, body)
    with pytest.raises(SandboxError, match="'extends' loops"):
        load_policy(tmp_path / "a.yaml")
    with pytest.raises(SandboxError, match="'extends' loops"):
        PolicySet(tmp_path, "a")


@pytest.mark.parametrize("target", ["../standard", "/etc/passwd", "Standard", 7, ["base"]])
def test_extends_must_name_a_sibling(tmp_path: Path, target: object) -> None:
    write(tmp_path, "base", BASE)
    write(tmp_path, "child", f"extends: {target!r}\nname: child\n".replace("'", '"'))
    with pytest.raises(SandboxError, match="extends: must name a policy in the same directory"):
        load_policy(tmp_path / "child.yaml")


def test_extends_a_missing_file(tmp_path: Path) -> None:
    write(tmp_path, "child", "extends: nothere\nname: child\n")
    with pytest.raises(SandboxError, match=r"nothere\.yaml: cannot read"):
        load_policy(tmp_path / "child.yaml")


# ---------------------------------------------------------------- strict schema


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ("python:\n  modules:\n    deni: [os]\n", "python.modules.deni"),
        ("pyhton:\n  names: [exec]\n", "pyhton"),
        ("bandit:\n  severity: critical\n", "bandit.severity"),
        ("source:\n  max_bytes: lots\n", "source.max_bytes"),
        ("source:\n  max_bytes: 0\n", "source.max_bytes"),
        ("python:\n  names: exec\n", "python.names"),
        ("python:\n  dynamic_attributes: maybe\n", "python.dynamic_attributes"),
        ("enforce: sometimes\n", "enforce"),
        ("limits:\n  maxima:\n    network: bridge\n", "limits.maxima.network"),
        ("text_rules:\n  - id: x\n    pattern: '('\n    message: m\n", "text_rules.0.pattern"),
        ("text_rules:\n  - id: x\n    pattern: 'a'\n    message: m\n    action: block\n", "text_rules.0.action"),
    ],
)
def test_unknown_keys_and_wrong_types_name_the_file_and_the_dotted_key(tmp_path: Path, body: str, key: str) -> None:
    path = write(tmp_path, "bad", "name: bad\nversion: 1\nstrictness: 0\n" + body)
    with pytest.raises(SandboxError) as caught:
        load_policy(path)
    message = caught.value.message
    assert str(path) in message
    assert f"{key}:" in message, message


def test_unknown_key_in_a_base_is_reported_through_the_child(tmp_path: Path) -> None:
    write(tmp_path, "base", BASE + "python_extra: 1\n")
    child = write(tmp_path, "child", "extends: base\nname: child\n")
    with pytest.raises(SandboxError, match="python_extra"):
        load_policy(child)


def test_missing_required_keys(tmp_path: Path) -> None:
    path = write(tmp_path, "bare", "name: bare\n")
    with pytest.raises(SandboxError) as caught:
        load_policy(path)
    assert "version:" in caught.value.message and "strictness:" in caught.value.message


def test_name_must_match_the_file_name(tmp_path: Path) -> None:
    path = write(tmp_path, "standard", "name: anything\nversion: 1\nstrictness: 0\n")
    with pytest.raises(SandboxError, match="name 'anything' must match the file name 'standard'"):
        load_policy(path)


@pytest.mark.parametrize("body", ["- name: x\n", "just a string\n", "42\n", "", "null\n"])
def test_top_level_must_be_a_mapping(tmp_path: Path, body: str) -> None:
    path = write(tmp_path, "odd", body)
    with pytest.raises(SandboxError, match="the top level must be a mapping"):
        load_policy(path)


def test_invalid_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, "broken", "name: [unclosed\n")
    with pytest.raises(SandboxError, match="cannot read"):
        load_policy(path)


@pytest.mark.parametrize(
    "tag",
    ["!!python/object/apply:os.system", "!!python/object/new:os.system", "!!python/name:os.system"],
)
def test_python_tags_are_refused_by_safe_load_and_nothing_runs(tmp_path: Path, tag: str) -> None:
    marker = tmp_path / "ran"
    path = write(tmp_path, "evil", f'name: evil\nversion: 1\nstrictness: 0\ndescription: {tag} ["touch {marker}"]\n')
    with pytest.raises(SandboxError, match="cannot read"):
        load_policy(path)
    assert not marker.exists()
    with pytest.raises(SandboxError):
        PolicySet(tmp_path, "evil")
    assert not marker.exists()
