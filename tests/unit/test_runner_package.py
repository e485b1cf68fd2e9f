"""The in-container runner package's own rules: what it imports, when, and how its modules meet."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.engine.protocol import encode_request
from tests.unit.helpers import (
    RUNNER_DIR,
    RUNNER_PACKAGE,
    RUNNER_WRAPPER,
    exec_spec,
    python_spec,
    runner_argv,
    runner_env,
    runner_modules,
)

MODULE_FILES = sorted(RUNNER_PACKAGE.glob("*.py"))
#: Imported only by a restricted run, after RestrictedPython's folder is on the path.
STRICT_MODULES = {"capabilities", "strict_compile"}
ONE_SHOT_MODULES = {name for name in runner_modules() if name != "session"} - STRICT_MODULES


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), str(path))


def function_bodies(tree: ast.Module) -> set[int]:
    """ids of every node inside a function (a lazy import lives there)."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            inside.update(id(child) for child in ast.walk(node) if child is not node)
    return inside


def test_the_package_has_the_expected_modules() -> None:
    expected = [
        "artifacts",
        "build",
        "capabilities",
        "cases",
        "confinement",
        "imports",
        "oneshot",
        "preload",
        "processes",
        "program",
        "pump",
        "restricted",
        "runs",
        "session",
        "strict_compile",
        "wire",
        "workspace",
    ]
    assert runner_modules() == expected
    assert [p.stem for p in MODULE_FILES] == ["__init__", *expected]


@pytest.mark.parametrize("path", MODULE_FILES, ids=lambda p: p.stem)
def test_the_runner_is_stdlib_only(path: Path) -> None:
    """Only the strict tier's restricted mode imports something else: the RestrictedPython wheel, lazily.

    ``strict_compile`` (shared with the host) imports it at module level; it is itself one of
    the ``STRICT_MODULES`` that only ``restricted`` imports, inside a function.
    """
    tree = parse(path)
    lazy = function_bodies(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top == "RestrictedPython":
                assert path.stem in {"restricted", "strict_compile"}, f"{path.name} imports {name}"
                assert id(node) in lazy or path.stem == "strict_compile", f"{path.name} imports {name} at module level"
                continue
            assert top in sys.stdlib_module_names or top == "__future__", f"{path.name} imports {name}"


@pytest.mark.parametrize("path", MODULE_FILES, ids=lambda p: p.stem)
def test_siblings_are_reached_through_their_module(path: Path) -> None:
    """``from .processes import kill_everything_else`` would escape the test wrapper's patch.

    Relative imports bring in sibling modules (``from . import processes``), or a constant.
    """
    siblings = set(runner_modules())
    for node in ast.walk(parse(path)):
        if isinstance(node, ast.ImportFrom) and node.level:
            assert node.level == 1, f"{path.name}: import from outside the package"
            for alias in node.names:
                if node.module is None:
                    assert alias.name in siblings, f"{path.name}: from . import {alias.name}"
                else:
                    assert alias.name.isupper(), f"{path.name}: from .{node.module} import {alias.name}"


@pytest.mark.parametrize("path", MODULE_FILES, ids=lambda p: p.stem)
def test_every_module_says_why_it_exists(path: Path) -> None:
    docstring = ast.get_docstring(parse(path))
    assert docstring and len(docstring.splitlines()) >= 3, f"{path.name} needs a docstring saying why it exists"


def test_importing_the_runner_loads_the_one_shot_modules_and_nothing_lazy() -> None:
    """Start-up imports every one-shot module (before the hello frame); sessions, ctypes, RestrictedPython wait."""
    probe = (
        f"import sys; sys.path.insert(0, {str(RUNNER_DIR)!r}); import sandbox_runner; import json; "
        "print(json.dumps(sorted(sys.modules)))"
    )
    completed = subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-c", probe], capture_output=True, timeout=15, check=True
    )
    loaded = set(json.loads(completed.stdout))
    package = {name.removeprefix("sandbox_runner.") for name in loaded if name.startswith("sandbox_runner.")}
    assert package == ONE_SHOT_MODULES
    assert not {"ctypes", "RestrictedPython", "site"} & loaded


#: Records the runner's modules when it says hello, and reports what it imported by the result frame.
IMPORT_PROBE = """
_write_frame, _at_hello = runner.wire.write_frame, set()
def _recording_write_frame(kind, payload):
    if kind == b"H":
        _at_hello.update(sys.modules)
    elif kind == b"R":
        sys.stderr.write("imported after hello: " + ",".join(sorted(set(sys.modules) - _at_hello)) + "\\n")
    _write_frame(kind, payload)
runner.wire.write_frame = _recording_write_frame
sys.exit(runner.main())
"""


@pytest.mark.parametrize(
    "spec",
    [
        exec_spec("echo hi; cat >/dev/null"),
        python_spec("print('hi')"),
        exec_spec("yes | head -c 99999", stdout_bytes=10),
    ],
    ids=["exec", "python", "output-limit"],
)
def test_a_warm_runner_imports_nothing_on_the_request_path(tmp_path: Path, spec) -> None:
    wrapper = RUNNER_WRAPPER.replace("sys.exit(runner.main())\n", IMPORT_PROBE)
    assert wrapper != RUNNER_WRAPPER
    completed = subprocess.run(
        runner_argv(wrapper=wrapper),
        input=encode_request(spec),
        capture_output=True,
        env=runner_env(tmp_path),
        timeout=15,
        check=False,
    )
    assert b"imported after hello: \n" in completed.stderr, completed.stderr.decode()


def test_the_strict_modules_are_imported_by_restricted_only_inside_a_function() -> None:
    for path in MODULE_FILES:
        tree = parse(path)
        lazy = function_bodies(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                for alias in node.names:
                    if alias.name in STRICT_MODULES:
                        assert path.stem == "restricted", f"{path.name} imports {alias.name}"
                        assert id(node) in lazy, f"{path.name} imports {alias.name} at module level"
