"""`sandbox secrets`: values from stdin only, never shown; rotation re-wraps; a wrong KEK stops `serve` cleanly."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sandbox.cli import app
from sandbox.store import Store

OLD = "old1:" + base64.b64encode(b"\x01" * 32).decode()
NEW = "new2:" + base64.b64encode(b"\x02" * 32).decode()
VALUE = "sk-test-cli-value-0123456789"


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SANDBOX_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("SANDBOX_SECRETS_KEK", OLD)
    store = Store(f"sqlite:///{tmp_path / 'sandbox.db'}")
    store.create_key("me", "standard", 4, 100)
    store.close()
    return tmp_path


def test_set_list_delete_never_show_the_value(state: Path) -> None:
    cli = CliRunner()
    created = cli.invoke(app, ["secrets", "set", "API_KEY"], input=VALUE + "\n")
    assert created.exit_code == 0, created.output
    assert "created API_KEY (version 1)" in created.output and VALUE not in created.output
    replaced = cli.invoke(app, ["secrets", "set", "API_KEY", "--key", "me"], input=VALUE + "2")
    assert replaced.exit_code == 0 and "version 2" in replaced.output
    listed = cli.invoke(app, ["secrets", "list"])
    assert "API_KEY" in listed.output and VALUE not in listed.output
    assert cli.invoke(app, ["secrets", "delete", "API_KEY"]).exit_code == 0
    missing = cli.invoke(app, ["secrets", "delete", "API_KEY"])
    assert missing.exit_code == 2 and "no secret" in missing.output


def test_an_empty_value_and_an_unknown_owner_are_refused(state: Path) -> None:
    cli = CliRunner()
    assert cli.invoke(app, ["secrets", "set", "API_KEY"], input="").exit_code == 2
    unknown = cli.invoke(app, ["secrets", "set", "API_KEY", "--key", "nobody"], input=VALUE)
    assert unknown.exit_code == 2 and "no live key named 'nobody'" in unknown.output


def test_rotation_rewraps_and_the_old_kek_can_then_go(state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cli = CliRunner()
    assert cli.invoke(app, ["secrets", "set", "API_KEY"], input=VALUE).exit_code == 0
    monkeypatch.setenv("SANDBOX_SECRETS_KEK", f"{NEW},{OLD}")
    rotated = cli.invoke(app, ["secrets", "rotate-kek"])
    assert rotated.exit_code == 0 and "1 data key(s) re-wrapped" in rotated.output, rotated.output
    monkeypatch.setenv("SANDBOX_SECRETS_KEK", NEW)  # the old KEK is gone: everything still opens
    from sandbox.config import Settings
    from sandbox.secrets import LazyKeyProvider, SecretStore

    store = Store(f"sqlite:///{state / 'sandbox.db'}")
    try:
        vault = SecretStore(store, LazyKeyProvider(Settings()))
        owner = store.list_keys()[0].id
        assert vault.reveal(owner, ["API_KEY"]) == {"API_KEY": (VALUE, 1)}
    finally:
        store.close()


def test_serve_with_a_kek_that_cannot_unwrap_stops_with_the_error_object(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli = CliRunner()
    assert cli.invoke(app, ["secrets", "set", "API_KEY"], input=VALUE).exit_code == 0
    monkeypatch.setenv("SANDBOX_SECRETS_KEK", NEW)
    refused = cli.invoke(app, ["serve", "--port", "1"])
    assert refused.exit_code == 70, refused.output
    assert "'old1'" in refused.output and "Traceback" not in refused.output
