"""``sandbox.client`` stands on httpx and pydantic alone: what a client-only install has.

Checked twice: statically (every import, lazy ones included, of every module the client reaches
inside the package) and at run time (a fresh interpreter importing the client loads none of the
server's libraries). ``tests/e2e/test_client_install.py`` checks it in a real client-only venv.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.unit.test_layering import IMPORTS

#: The server's libraries (the ``server`` extra) that a client must never import.
SERVER_LIBRARIES = {
    "docker", "bandit", "fastapi", "starlette", "uvicorn", "mcp", "sqlalchemy", "cryptography",
    "RestrictedPython", "typer", "rich", "yaml", "pydantic_settings", "tenacity", "prometheus_client",
    "opentelemetry", "PIL", "fastapi_offline",
}  # fmt: skip
ALLOWED_THIRD_PARTY = {"httpx", "pydantic"}


def reached_from(roots: set[str]) -> set[str]:
    """Modules of the package that ``roots`` import, directly or not (lazy imports included)."""
    seen: set[str] = set()
    todo = [m for m in IMPORTS if any(m == r or m.startswith(r + ".") for r in roots)]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        for imp in IMPORTS[module]:
            parts = imp.module.split(".")
            # `from sandbox.models import X` also lists sandbox.models.X: the longest known prefix is the module
            for end in range(len(parts), 0, -1):
                name = ".".join(parts[:end])
                if name in IMPORTS:
                    todo.append(name)
                    # a package's __init__ runs first
                    todo.extend(".".join(parts[:i]) for i in range(1, end) if ".".join(parts[:i]) in IMPORTS)
                    break
    return seen


def test_every_import_the_client_reaches_is_stdlib_httpx_or_pydantic() -> None:
    modules = reached_from({"sandbox.client"})
    assert {"sandbox", "sandbox.client", "sandbox.models", "sandbox.responses"} <= modules
    foreign = {
        (module, imp.module)
        for module in modules
        for imp in IMPORTS[module]
        if (top := imp.module.split(".")[0]) != "sandbox"
        and top not in sys.stdlib_module_names
        and top not in ALLOWED_THIRD_PARTY
        and top != "__future__"
    }
    assert not foreign, f"the client reaches imports outside httpx, pydantic and the stdlib: {sorted(foreign)}"
    server_side = {"api", "engine", "service", "cli", "cli_secrets", "store", "secrets", "mcp", "validation", "config"}
    assert not {m for m in modules if m.count(".") and m.split(".")[1] in server_side}


def loaded_by(statement: str) -> set[str]:
    """Top-level modules a fresh interpreter has loaded after ``statement``."""
    probe = f"import json, sys; {statement}; print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    return set(json.loads(subprocess.run([sys.executable, "-c", probe], capture_output=True, check=True).stdout))


def test_importing_the_client_loads_none_of_the_servers_libraries() -> None:
    # httpx loads rich (for its own CLI) when rich is installed, as it is in this venv: that is httpx's
    # doing, absent from a client-only install, so it is subtracted here and checked there.
    baseline = loaded_by("import httpx, pydantic")
    loaded = loaded_by("import sandbox.client")
    assert {"sandbox", "httpx", "pydantic"} <= loaded
    assert not (loaded - baseline) & SERVER_LIBRARIES, sorted((loaded - baseline) & SERVER_LIBRARIES)
