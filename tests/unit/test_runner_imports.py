"""The runner's import guard (``sandbox_runner.imports``): under an enforcing policy, only validated source
is imported from a writable place. Issue 11, class 6: files that bypass validation.

Each attack is also run with the guard off, to show that it works there: a test
of a guard against an attack that cannot succeed would prove nothing.
"""

from __future__ import annotations

import base64
import dataclasses
import importlib.util
import marshal
import os
import sys
from pathlib import Path

import pytest

from sandbox.engine import RunFile, RunSpec
from tests.unit.helpers import HostSession, joined, python_spec, run_on_host

HELPER = b"X = 'validated'\n"
# A byte-code cache for helper.py that says something else, with the source's size and mtime in its header.
FORGE_PYC = """
import importlib._bootstrap_external as bx, os
source = os.stat('helper.py')
code = compile("X = 'forged'", 'helper.py', 'exec')
os.makedirs('__pycache__', exist_ok=True)
data = bx._code_to_timestamp_pyc(code, int(source.st_mtime), source.st_size)
open('__pycache__/' + os.path.basename(bx.cache_from_source('helper.py')), 'wb').write(data)
"""


def run(code: str, tmp_path: Path, *, guarded: bool, files: tuple[RunFile, ...] = ()) -> tuple[bytes, bytes]:
    tmp_path.mkdir(exist_ok=True)
    spec = python_spec(code)
    spec = dataclasses.replace(spec, files=spec.files + files, validated_imports=guarded)
    frames, report = run_on_host(spec, tmp_path)
    assert report is not None
    return joined(frames, "stdout"), joined(frames, "stderr")


@pytest.mark.parametrize("guarded", [True, False])
def test_validated_sources_and_the_standard_library_import_as_usual(tmp_path: Path, guarded: bool) -> None:
    files = (RunFile("helper.py", HELPER), RunFile("pkg/__init__.py", b"Y = 2\n"), RunFile("pkg/mod.py", b"Z = 3\n"))
    code = "import json, collections, helper, pkg, pkg.mod\nprint(helper.X, pkg.Y, pkg.mod.Z, json.dumps(1))"
    stdout, stderr = run(code, tmp_path, guarded=guarded, files=files)
    assert stdout == b"validated 2 3 1\n", stderr


@pytest.mark.parametrize(
    "make",
    [
        "import shutil; shutil.copy('data.txt', 'm.py')",  # a data file renamed to a module
        "open('m.py', 'w').write(''.join(map(chr, [112, 114, 105, 110, 116, 40, 39, 114, 97, 110, 39, 41])))",
        "import os; os.makedirs('m'); open('m/__init__.py', 'w').write(open('data.txt').read())",  # a package
        "open('/tmp/m.py', 'w').write(open('data.txt').read()); import sys; sys.path.append('/tmp')",
    ],
    ids=["renamed", "computed", "package", "tmp-on-path"],
)
def test_a_module_written_at_run_time_is_not_imported(tmp_path: Path, make: str) -> None:
    code = f"{make}\ntry:\n    import m\nexcept ImportError as e:\n    print('refused:', e)\n"
    files = (RunFile("data.txt", b"print('ran')\n"),)
    stdout, stderr = run(code, tmp_path, guarded=True, files=files)
    assert b"ran" not in stdout.replace(b"refused", b""), stdout
    assert b"refused: m: " in stdout and b"is not a file validation saw" in stdout, (stdout, stderr)
    unguarded, _ = run(code, tmp_path / "off", guarded=False, files=files)
    assert unguarded == b"ran\n", "the attack does not work even without the guard: the test proves nothing"


def test_a_path_that_only_looks_like_the_system_tree_is_checked(tmp_path: Path) -> None:
    """`/usr/../tmp/evil.py` starts with `/usr/`: the guard judges where the file really is."""
    outside = tmp_path / "outside"
    outside.mkdir()
    detour = f"{sys.base_prefix}/{os.path.relpath(outside, sys.base_prefix)}"  # /usr/../tmp/...
    init = f"__path__.append({detour!r})\n".encode()
    code = f"open({str(outside / 'evil.py')!r}, 'w').write('print(\"ran\")')\n"
    code += "try:\n    import pkg.evil\nexcept ImportError as e:\n    print('refused:', e)\n"
    files = (RunFile("pkg/__init__.py", init),)
    stdout, stderr = run(code, tmp_path / "on", guarded=True, files=files)
    assert stdout.startswith(b"refused: pkg.evil: "), (stdout, stderr)
    assert run(code, tmp_path / "off", guarded=False, files=files)[0] == b"ran\n"


def test_a_validated_module_changed_at_run_time_is_not_imported(tmp_path: Path) -> None:
    code = "open('helper.py', 'a').write('X = \"changed\"\\n')\ntry:\n    import helper\nexcept ImportError as e:\n"
    code += "    print('refused:', e)\nelse:\n    print(helper.X)\n"
    stdout, _ = run(code, tmp_path, guarded=True, files=(RunFile("helper.py", HELPER),))
    assert stdout.startswith(b"refused: helper: ")
    assert run(code, tmp_path / "off", guarded=False, files=(RunFile("helper.py", HELPER),))[0] == b"changed\n"


def test_a_forged_byte_code_cache_beside_a_validated_source_is_ignored(tmp_path: Path) -> None:
    code = FORGE_PYC + "import helper\nprint(helper.X)\n"
    files = (RunFile("helper.py", HELPER),)
    assert run(code, tmp_path, guarded=True, files=files)[0] == b"validated\n"
    assert run(code, tmp_path / "off", guarded=False, files=files)[0] == b"forged\n"


def test_compiled_modules_written_at_run_time_are_refused(tmp_path: Path) -> None:
    pyc = importlib.util.MAGIC_NUMBER + b"\x00" * 12 + marshal.dumps(compile("print('ran')", "m", "exec"))
    code = (
        f"import base64\nopen('m.pyc', 'wb').write(base64.b64decode({base64.b64encode(pyc)!r}))\n"
        "try:\n    import m\nexcept ImportError as e:\n    print('refused:', e)\n"
    )
    stdout, _ = run(code, tmp_path, guarded=True)
    assert b"refused: m: " in stdout and b"compiled code in a writable place" in stdout, stdout
    assert run(code, tmp_path / "off", guarded=False)[0] == b"ran\n"


def test_a_session_imports_its_uploads_but_not_what_a_cell_wrote(tmp_path: Path) -> None:
    with HostSession(tmp_path, validated_imports=True, files=(RunFile("opened.py", b"A = 1\n"),)) as session:
        session.send({"op": "put", "path": "uploaded.py", "data": base64.b64encode(b"B = 2\n").decode()})
        assert [f.kind for f in session.answer()] == ["result"]
        frames, report = session.exec("import opened, uploaded\nprint(opened.A, uploaded.B)")
        assert joined(frames, "stdout") == b"1 2\n", joined(frames, "stderr")
        session.exec("open('written.py', 'w').write('C = 3')")
        frames, report = session.exec("import written")
        assert report is not None and report.exit_code == 1 and not report.session_ended
        assert b"written: " in joined(frames, "stderr") and b"is not a file validation saw" in joined(frames, "stderr")
        frames, _ = session.exec("print('alive')")
        assert joined(frames, "stdout") == b"alive\n"


def test_the_guard_is_off_unless_the_policy_enforces(tmp_path: Path) -> None:
    with HostSession(tmp_path) as session:
        session.exec("open('written.py', 'w').write('C = 3')")
        frames, _ = session.exec("import written\nprint(written.C)")
        assert joined(frames, "stdout") == b"3\n"


def test_the_planner_asks_for_the_guard_only_under_an_enforcing_policy() -> None:
    from sandbox.config import PROJECT_ROOT, Settings
    from sandbox.engine import ImageCatalog
    from sandbox.models import ExecutionRequest, SessionRequest
    from sandbox.planning import Planner
    from sandbox.validation import PolicySet

    settings = Settings()
    planner = Planner(settings, ImageCatalog(PROJECT_ROOT / "images"), PolicySet(settings.policies_dir, "standard"))
    guarded: dict[str, bool] = {}
    for name in ("standard", "strict", "permissive"):
        policy = planner.policies.get(name)
        spec: RunSpec = planner.plan(ExecutionRequest(code="print(1)"), policy)
        guarded[name] = spec.validated_imports
    assert guarded == {"standard": True, "strict": True, "permissive": False}
    assert (
        planner.plan(ExecutionRequest(language="bash", code="echo"), planner.policies.get("standard")).validated_imports
        is False
    )
    session = planner.plan_session(SessionRequest(), planner.policies.get("standard"))
    assert session.validated_imports is True
