"""Import layering, checked statically with ast: who may import docker, fastapi, the engine."""

from __future__ import annotations

import ast
import importlib
from dataclasses import dataclass
from pathlib import Path

import pytest

import sandbox
import sandbox.engine

PACKAGE_DIR = Path(sandbox.__file__).resolve().parent
ROOT = PACKAGE_DIR.parent


@dataclass(frozen=True)
class Import:
    module: str  # absolute dotted name
    lazy: bool  # inside a function or class body, not at module level
    line: int


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, root: Path = ROOT) -> list[Import]:
    tree = ast.parse(path.read_text(), str(path))
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[Import] = []

    def visit(node: ast.AST, lazy: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = lazy or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda)
            if isinstance(child, ast.Import):
                found.extend(Import(alias.name, lazy, child.lineno) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - (child.level - 1)]
                    target = ".".join([*base, child.module] if child.module else base)
                else:
                    target = child.module or ""
                found.append(Import(target, lazy, child.lineno))
                # `from sandbox import service` imports sandbox.service too.
                found.extend(Import(f"{target}.{alias.name}", lazy, child.lineno) for alias in child.names)
            visit(child, inner)

    visit(tree, False)
    return found


SOURCES = sorted(PACKAGE_DIR.rglob("*.py"))
IMPORTS = {module_name(p): imports_of(p) for p in SOURCES}


def importers_of(prefix: str) -> dict[str, list[Import]]:
    hits: dict[str, list[Import]] = {}
    for module, imports in IMPORTS.items():
        matching = [i for i in imports if i.module == prefix or i.module.startswith(prefix + ".")]
        if matching:
            hits[module] = matching
    return hits


def test_sources_found() -> None:
    assert {"sandbox.service", "sandbox.cli", "sandbox.engine.docker", "sandbox.models"} <= set(IMPORTS)


def test_resolver_handles_relative_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "sandbox" / "engine"
    pkg.mkdir(parents=True)
    source = pkg / "mod.py"
    source.write_text("from . import base\nfrom ..service import x\ndef f():\n    import docker\n")
    got = {(i.module, i.lazy) for i in imports_of(source, tmp_path)}
    assert ("sandbox.engine.base", False) in got
    assert ("sandbox.service", False) in got
    assert ("docker", True) in got


def test_docker_is_imported_only_by_engine_docker() -> None:
    """The docker fence, without exceptions: image builds, doctor and the CLI go through engine functions."""
    assert set(importers_of("docker")) == {"sandbox.engine.docker"}
    assert set(importers_of("requests")) <= {"sandbox.engine.docker"}  # the SDK's transport errors


def test_docker_backend_is_the_one_engine_talking_to_docker() -> None:
    assert "sandbox.engine.docker" in importers_of("docker")
    assert "sandbox.engine.docker" in {m for m, _ in _users_of("sandbox.engine.docker", "DockerEngine")}


DOORS = ("sandbox.api", "sandbox.mcp", "sandbox.cli", "sandbox.cli_secrets", "sandbox.cli_entry")


def _is(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def test_nothing_below_the_doors_imports_a_door() -> None:
    """Doors call the core; the core never calls (or even imports) a door."""
    for door in DOORS:
        offenders = [m for m in importers_of(door) if not any(_is(m, d) for d in DOORS)]
        assert not offenders, f"{offenders} import the door {door}"


def test_doors_do_not_import_each_other() -> None:
    """The API mounts the MCP endpoint and `sandbox mcp` serves it over stdio; otherwise doors stand alone."""
    allowed = {("sandbox.api.app", "sandbox.mcp"), ("sandbox.cli", "sandbox.mcp")}  # hosts: HTTP, stdio
    allowed |= {("sandbox.cli", "sandbox.cli_secrets"), ("sandbox.cli_secrets", "sandbox.cli")}  # one CLI, two files
    allowed |= {("sandbox.cli_entry", "sandbox.cli")}  # the console script: the CLI, or how to install it
    allowed |= {("sandbox.cli", "sandbox.api")}  # `sandbox worker` hosts the worker's probes (api.worker_health)
    for door in DOORS:
        for module in importers_of(door):
            other = next((d for d in DOORS if _is(module, d)), None)
            if other is not None and other != door:
                assert (module, door) in allowed, f"{module} imports the door {door}"


def test_outside_the_engine_only_the_engine_package_root_is_imported() -> None:
    """Other packages import ``sandbox.engine`` and nothing below it (its public surface)."""
    submodules = {module_name(p).rsplit(".", 1)[-1] for p in (PACKAGE_DIR / "engine").glob("*.py")} - {"engine"}
    for module, imports in IMPORTS.items():
        if _is(module, "sandbox.engine"):
            continue
        deep = [i for i in imports if i.module.startswith("sandbox.engine.") and i.module.split(".")[2] in submodules]
        assert not deep, f"{module} imports {[i.module for i in deep]} (use sandbox.engine)"


def _users_of(module_prefix: str, name: str) -> list[tuple[str, int]]:
    """(module, line) of every reference to ``name`` in the package's sources."""
    found = []
    for path in SOURCES:
        module = module_name(path)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Name) and node.id == name:
                found.append((module, node.lineno))
    return found


def test_no_isinstance_docker_backend_outside_the_engine() -> None:
    """Pools and readiness are behind the ``Backend`` interface; only the composition names DockerBackend."""
    for path in SOURCES:
        module = module_name(path)
        if _is(module, "sandbox.engine"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "isinstance":
                assert "DockerBackend" not in ast.unparse(node), f"{module}:{node.lineno} tests for DockerBackend"
    users = {m for m, _ in _users_of("sandbox", "DockerBackend") if not _is(m, "sandbox.engine")}
    assert users == {"sandbox.service"}, f"DockerBackend is named outside build_service: {users}"


def test_sqlalchemy_only_in_the_store() -> None:
    for module in importers_of("sqlalchemy"):
        assert _is(module, "sandbox.store"), f"{module} imports sqlalchemy"


def test_redis_only_in_the_shared_limits_the_shared_result_cache_and_the_cluster() -> None:
    shared = {"sandbox.resilience.shared_limits", "sandbox.cache.shared"}
    for module in importers_of("redis"):
        assert _is(module, "sandbox.cluster") or module in shared, f"{module} imports redis"


def test_fastapi_only_in_the_api_package() -> None:
    for module in importers_of("fastapi"):
        assert module.startswith("sandbox.api"), f"{module} imports fastapi"
    for module in importers_of("starlette"):
        # The MCP door wraps its HTTP endpoint as an ASGI app (types only).
        assert module.startswith("sandbox.api") or _is(module, "sandbox.mcp"), f"{module} imports starlette"


def test_the_mcp_sdk_only_in_the_mcp_door() -> None:
    users = set(importers_of("mcp"))
    assert users and all(_is(module, "sandbox.mcp") for module in users), users


@pytest.mark.parametrize("forbidden", ["sandbox.service", "sandbox.cli", "sandbox.api"])
def test_engine_never_imports_upper_layers(forbidden: str) -> None:
    offenders = [m for m in importers_of(forbidden) if m.startswith("sandbox.engine")]
    assert not offenders, f"{offenders} import {forbidden}"


@pytest.mark.parametrize("module", ["sandbox.models", "sandbox.errors", "sandbox.config", "sandbox.limits"])
def test_core_modules_import_no_engine_service_or_doors(module: str) -> None:
    for imp in IMPORTS[module]:
        for forbidden in ("sandbox.engine", "sandbox.service", "sandbox.cli", "sandbox.api", "docker", "fastapi"):
            assert not (imp.module == forbidden or imp.module.startswith(forbidden + ".")), (
                f"{module} imports {imp.module} (line {imp.line})"
            )


def test_engine_all_is_sorted_and_importable() -> None:
    names = sandbox.engine.__all__
    assert list(names) == sorted(names)
    assert len(set(names)) == len(names)
    fresh = importlib.import_module("sandbox.engine")
    for name in names:
        assert getattr(fresh, name) is not None
    namespace: dict[str, object] = {}
    exec("from sandbox.engine import *", namespace)
    assert set(names) <= set(namespace)


@pytest.mark.parametrize(
    ("library", "home"),
    [("bandit", "sandbox.validation.bandit"), ("RestrictedPython", "sandbox.validation.strict_compile")],
)
def test_validation_libraries_are_fenced_in(library: str, home: str) -> None:
    assert set(importers_of(library)) == {home}


@pytest.mark.parametrize("forbidden", ["sandbox.engine", "sandbox.service", "sandbox.cli", "sandbox.api", "docker"])
def test_validation_never_imports_the_engine_or_doors(forbidden: str) -> None:
    offenders = [m for m in importers_of(forbidden) if m.startswith("sandbox.validation")]
    assert not offenders, f"{offenders} import {forbidden}"
