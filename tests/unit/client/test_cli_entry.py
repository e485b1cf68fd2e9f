"""The console script in a client-only install: one line saying to install sandbox[server]."""

from __future__ import annotations

import subprocess
import sys

from sandbox.cli_entry import HINT, SERVER_MODULES, missing_server_module

#: Runs the console script's ``main`` with the server's libraries made unimportable (as in a client-only venv).
WITHOUT_TYPER = (
    "import sys\n"
    "class Hide:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name.split('.')[0] in {'typer', 'rich'}:\n"
    "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
    "sys.meta_path.insert(0, Hide())\n"
    "from sandbox.cli_entry import main\n"
    "main()\n"
)


def test_a_missing_server_library_is_one_line_with_the_install_hint() -> None:
    done = subprocess.run([sys.executable, "-c", WITHOUT_TYPER, "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "'typer' is not installed" in done.stderr and HINT in done.stderr


def test_only_server_libraries_are_translated() -> None:
    assert missing_server_module(ModuleNotFoundError("x", name="fastapi.routing")) == "fastapi"
    assert missing_server_module(ModuleNotFoundError("x", name="sandbox.nope")) is None
    assert missing_server_module(ImportError("cannot import name 'x' from 'typer'", name="typer")) is None
    assert {"docker", "typer", "fastapi", "sqlalchemy", "mcp"} <= SERVER_MODULES


def test_with_the_server_installed_it_is_the_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "from sandbox.cli_entry import main; main()", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "serve" in done.stdout
