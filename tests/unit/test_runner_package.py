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
        "boot",
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


#: Modules whose functions run in the forked child while the program runs (its strict guards, its
#: audit hook, its import checks), after ``program.hide_runner`` took this package out of ``sys.modules``.
CHILD_MODULES = ("restricted", "capabilities", "imports", "strict_compile")
#: ... except these, which run before the program's first line (RestrictedPython's modules load lazily).
BEFORE_THE_PROGRAM = {"restricted_namespace"}


@pytest.mark.parametrize("name", CHILD_MODULES)
def test_code_the_program_calls_imports_no_sibling_lazily(name: str) -> None:
    """A ``from . import x`` in a function the program calls would fail in the container (the package
    is gone from ``sys.modules`` and its directory from ``sys.path``): siblings are bound at import."""
    for node in ast.walk(parse(RUNNER_PACKAGE / f"{name}.py")):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name not in BEFORE_THE_PROGRAM:
            for inner in ast.walk(node):
                lazy = isinstance(inner, ast.ImportFrom) and inner.level > 0
                assert not lazy, f"{name}.py:{inner.lineno}: a sibling imported inside {node.name}()"


@pytest.mark.parametrize("path", MODULE_FILES, ids=lambda p: p.stem)
def test_every_module_says_why_it_exists(path: Path) -> None:
    docstring = ast.get_docstring(parse(path))
    assert docstring and len(docstring.splitlines()) >= 3, f"{path.name} needs a docstring saying why it exists"


#: What the runner never imports for a one-shot run: each costs every container milliseconds of CPU
#: (``json`` brings ``re`` and ``enum``; ``signal`` brings ``enum``; ``contextlib`` brings ``collections``
#: and ``functools``). The program imports its own if it wants them.
HEAVY_MODULES = {"json", "re", "enum", "signal", "contextlib", "collections", "functools", "typing"}

#: Runs the runner (with stdin at EOF: it says hello, gets ready, finds no request and ends) and
#: prints, as JSON, the modules loaded when the hello frame was written and when the request was read.
START_PROBE = """
import json as _json_for_the_probe, posix, sys
sys.path.insert(0, sys.argv[1])
_loaded = {}
_write = posix.write
def _recording_write(fd, data):
    _loaded.setdefault("hello", sorted(sys.modules))
    return _write(fd, data)
posix.write = _recording_write
import sandbox_runner
from sandbox_runner import wire
_read_request = wire.read_request
def _recording_read_request():
    _loaded["request"] = sorted(sys.modules)
    return _read_request()
wire.read_request = _recording_read_request
_loaded["import"] = sorted(sys.modules)
sandbox_runner.boot.leave = lambda status: None  # the probe reports after main()
sandbox_runner.main()
sys.stderr.write(_json_for_the_probe.dumps(_loaded))
"""


def start_probe(tmp_path: Path, *, warm_python: bool) -> dict[str, set[str]]:
    # Only the package's own imports count: the probe's json (and its re, enum...) came first.
    completed = subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-c", START_PROBE, str(RUNNER_DIR)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env=runner_env(tmp_path, warm_python=warm_python),
        timeout=15,
        check=False,
    )
    assert completed.stdout.startswith(b'H\x00\x00\x00\x08{"v": 1}'), completed
    loaded = json.loads(completed.stderr)
    return {when: set(names) for when, names in loaded.items()}


def test_importing_the_runner_loads_nothing_but_boot(tmp_path: Path) -> None:
    """``import sandbox_runner`` is all the host's command does before ``main()``: nothing is imported yet."""
    probe = (
        f"import sys; sys.path.insert(0, {str(RUNNER_DIR)!r}); before = set(sys.modules); import sandbox_runner; "
        "print(' '.join(sorted(set(sys.modules) - before)))"
    )
    completed = subprocess.run([sys.executable, "-I", "-S", "-B", "-c", probe], capture_output=True, timeout=15)
    assert completed.stdout.split() == [b"sandbox_runner", b"sandbox_runner.boot"], completed


@pytest.mark.parametrize("warm_python", [False, True], ids=["exec-image", "python-image"])
def test_the_hello_goes_out_before_any_import_and_the_one_shot_modules_before_the_request(
    tmp_path: Path, warm_python: bool
) -> None:
    loaded = start_probe(tmp_path, warm_python=warm_python)
    # At the hello: what the probe had, and the package's first module.
    assert loaded["hello"] - loaded["import"] == set()
    assert {name for name in loaded["import"] if name.startswith("sandbox_runner")} == {
        "sandbox_runner",
        "sandbox_runner.boot",
        "sandbox_runner.wire",
    }  # the probe itself imported wire, to watch read_request
    package = {name.removeprefix("sandbox_runner.") for name in loaded["request"] if name.startswith("sandbox_runner.")}
    assert package == ONE_SHOT_MODULES
    assert "ctypes" in loaded["request"], "the seccomp filter is built before the request"
    assert ("site" in loaded["request"]) is warm_python


def test_the_runner_imports_none_of_the_heavy_modules(tmp_path: Path) -> None:
    """Run without the probe's own json: in an image without the Python warm-up, none of ``HEAVY_MODULES``."""
    probe = START_PROBE.replace("import json as _json_for_the_probe, posix, sys", "import posix, sys").replace(
        "sys.stderr.write(_json_for_the_probe.dumps(_loaded))", "sys.stderr.write(' '.join(_loaded['request']))"
    )
    completed = subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-c", probe, str(RUNNER_DIR)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env=runner_env(tmp_path, warm_python=False),
        timeout=15,
        check=False,
    )
    loaded = set(completed.stderr.decode().split())
    assert "sandbox_runner.oneshot" in loaded, completed
    assert not HEAVY_MODULES & loaded


def test_the_runner_ends_without_finalizing_the_interpreter(tmp_path: Path) -> None:
    """After its last frame (here: an ``X`` for a request that never came) the runner leaves with
    ``os._exit``: no exit handler runs, so no module is torn down either."""
    probe = (
        f"import atexit, sys; sys.path.insert(0, {str(RUNNER_DIR)!r}); atexit.register(print, 'finalized'); "
        "import sandbox_runner; sys.exit(sandbox_runner.main())"
    )
    completed = subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-c", probe],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env=runner_env(tmp_path),
        timeout=15,
        check=False,
    )
    assert completed.returncode == 2, completed
    assert completed.stdout.startswith(b"H") and b"X" in completed.stdout
    assert b"finalized" not in completed.stdout


#: Records the runner's modules when it reads the request, and reports what it imported by the result frame.
IMPORT_PROBE = """
_read_request, _at_request = runner.wire.read_request, set()
def _recording_read_request():
    _at_request.update(sys.modules)
    return _read_request()
runner.wire.read_request = _recording_read_request
_write_frame = runner.wire.write_frame
def _recording_write_frame(kind, payload):
    if kind == b"R":
        sys.stderr.write("imported after the request: " + ",".join(sorted(set(sys.modules) - _at_request)) + "\\n")
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
    assert b"imported after the request: \n" in completed.stderr, completed.stderr.decode()


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
