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


def test_docker_is_imported_only_by_the_engine_and_lazily_by_the_cli() -> None:
    allowed = {"sandbox.engine.docker", "sandbox.engine.imagebuild", "sandbox.engine.doctor"}
    for module, imports in importers_of("docker").items():
        if module == "sandbox.cli":
            eager = [i.line for i in imports if not i.lazy]
            assert not eager, f"sandbox/cli.py imports docker at module level (lines {eager})"
        else:
            assert module in allowed, f"{module} imports docker"


def test_docker_backend_is_the_one_engine_talking_to_docker() -> None:
    assert "sandbox.engine.docker" in importers_of("docker")


def test_fastapi_only_in_the_api_package() -> None:
    for module in importers_of("fastapi"):
        assert module.startswith("sandbox.api"), f"{module} imports fastapi"
    for module in importers_of("starlette"):
        # The MCP door wraps its HTTP endpoint as an ASGI app (types only).
        assert module.startswith("sandbox.api") or module == "sandbox.mcp", f"{module} imports starlette"


def test_the_mcp_sdk_only_in_the_mcp_door() -> None:
    assert set(importers_of("mcp")) == {"sandbox.mcp"}


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
    [("bandit", "sandbox.validation.bandit"), ("RestrictedPython", "sandbox.validation.restricted")],
)
def test_validation_libraries_are_fenced_in(library: str, home: str) -> None:
    assert set(importers_of(library)) == {home}


@pytest.mark.parametrize("forbidden", ["sandbox.engine", "sandbox.service", "sandbox.cli", "sandbox.api", "docker"])
def test_validation_never_imports_the_engine_or_doors(forbidden: str) -> None:
    offenders = [m for m in importers_of(forbidden) if m.startswith("sandbox.validation")]
    assert not offenders, f"{offenders} import {forbidden}"
