"""`sandbox keys`: create (with or without the ops permission), list, revoke, against a real SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sandbox.cli import app
from sandbox.store import KEY_PREFIX, Store


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SANDBOX_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")  # rich's table keeps every column whole
    return tmp_path


def stored(state: Path, plaintext: str) -> tuple[str, bool] | None:
    store = Store(f"sqlite:///{state / 'sandbox.db'}")
    try:
        key = store.authenticate(plaintext)
        return (key.name, key.ops) if key else None
    finally:
        store.close()


def test_keys_create_ops_makes_a_key_with_the_ops_permission_and_list_shows_it(state: Path) -> None:
    cli = CliRunner()
    operator = cli.invoke(app, ["keys", "create", "--name", "operator", "--ops"])
    assert operator.exit_code == 0, operator.output
    plaintext = operator.stdout.strip()
    assert plaintext.startswith(KEY_PREFIX) and "ops permission" in operator.stderr
    assert stored(state, plaintext) == ("operator", True)

    plain = cli.invoke(app, ["keys", "create", "--name", "ci"])
    assert plain.exit_code == 0, plain.output
    assert "ops permission" not in plain.stderr
    assert stored(state, plain.stdout.strip()) == ("ci", False)

    listed = cli.invoke(app, ["keys", "list"])
    assert listed.exit_code == 0, listed.output
    header = next(line for line in listed.stdout.splitlines() if "name" in line and "policy" in line)
    assert " ops " in header
    rows = {line.split()[1]: line for line in listed.stdout.splitlines() if line.split()[1:2] in (["operator"], ["ci"])}
    assert " yes " in rows["operator"] and " yes " not in rows["ci"]
    assert plaintext not in listed.stdout  # the secret is shown once, at creation


def test_keys_create_twice_with_one_name_is_refused(state: Path) -> None:
    cli = CliRunner()
    assert cli.invoke(app, ["keys", "create", "--name", "ops", "--ops"]).exit_code == 0
    again = cli.invoke(app, ["keys", "create", "--name", "ops", "--ops"])
    assert again.exit_code == 2 and "already exists" in again.output
