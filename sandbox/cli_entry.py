"""The ``sandbox`` console script: the CLI, or one line saying how to get it.

The distribution's base install is the Python client alone (httpx and pydantic); the CLI, the
server and the MCP door need the ``server`` extra. A client-only install still gets the
``sandbox`` script (entry points cannot depend on an extra), so it must say what is missing in one
line rather than end in an ImportError traceback. Only a missing server dependency is translated:
any other ImportError is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys

#: Top-level modules of the ``server`` extra's distributions (what ``import`` names, not PyPI names).
SERVER_MODULES = frozenset(
    {
        "PIL",
        "RestrictedPython",
        "anyio",
        "bandit",
        "cryptography",
        "docker",
        "fastapi",
        "fastapi_offline",
        "mcp",
        "opentelemetry",
        "prometheus_client",
        "pydantic_settings",
        "rich",
        "sqlalchemy",
        "starlette",
        "tenacity",
        "typer",
        "uvicorn",
        "yaml",
    }
)
HINT = "pip install 'sandbox[server]'"


def missing_server_module(exc: ImportError) -> str | None:
    """The server dependency whose absence ``exc`` reports, if that is what it reports."""
    name = (exc.name or "").partition(".")[0]
    return name if isinstance(exc, ModuleNotFoundError) and name in SERVER_MODULES else None


def main() -> None:
    try:
        from sandbox.cli import app
    except ModuleNotFoundError as exc:
        missing = missing_server_module(exc)
        if missing is None:
            raise
        sys.exit(
            f"sandbox: the command line needs the server's dependencies ({missing!r} is not installed; "
            f"this install has the Python client only): {HINT}"
        )
    app()
