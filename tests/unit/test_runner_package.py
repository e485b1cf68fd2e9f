"""The in-container runner's own rules, checked statically: what it may import."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_runner_is_stdlib_only() -> None:
    """Only the strict tier's restricted mode imports something else: the RestrictedPython wheel."""
    runner = ROOT / "images" / "runner" / "sandbox_runner.py"
    tree = ast.parse(runner.read_text())
    (restricted,) = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "restricted_namespace"]
    allowed_there = {id(n) for n in ast.walk(restricted)}
    for node in ast.walk(tree):
        if id(node) in allowed_there and isinstance(node, ast.ImportFrom) and node.module:
            assert node.module.split(".")[0] in ("RestrictedPython", *sys.stdlib_module_names)
            continue
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        for name in names:
            top = name.split(".")[0]
            assert top in sys.stdlib_module_names or top == "__future__", f"runner imports {name}"
