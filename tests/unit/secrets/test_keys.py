"""KEKs: SANDBOX_SECRETS_KEK parsing, the key file (created 0600, refused when others may read it), wrapping."""

from __future__ import annotations

import base64
import logging
import os
import stat
from pathlib import Path

import pytest

from sandbox.config import Settings
from sandbox.errors import SecretError
from sandbox.secrets import LocalKeyProvider, new_kek_line
from sandbox.secrets.crypto import derive_wrapping_key, unwrap_dek
from sandbox.secrets.keys import derived_kek_id, parse_keks
from tests.unit.secrets.conftest import NEW_KEK, OLD_KEK, kek_entry

KEY_VAR = "SANDBOX_SECRETS_KEK"


@pytest.fixture(autouse=True)
def _no_kek_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_VAR, raising=False)
    monkeypatch.delenv("SANDBOX_SECRETS_KEK_FILE", raising=False)


def encodings(key: bytes) -> list[str]:
    """Every way the key material could show up in a message."""
    return [
        base64.b64encode(key).decode(),
        base64.urlsafe_b64encode(key).decode().rstrip("="),
        base64.b64encode(key).decode()[:16],
        key.hex(),
    ]


# ------------------------------------------------------------ the variable
def test_the_first_entry_is_the_primary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_VAR, f"{kek_entry('k2', NEW_KEK)}, {kek_entry('k1', OLD_KEK)}")
    keys = LocalKeyProvider.from_settings(Settings())
    assert keys.primary_id == "k2" and keys.ids() == {"k1", "k2"}
    for shown in (repr(keys), repr(Settings())):
        assert not any(e in shown for e in encodings(NEW_KEK) + encodings(OLD_KEK))


def test_urlsafe_unpadded_bare_and_newline_separated_entries() -> None:
    urlsafe = base64.urlsafe_b64encode(NEW_KEK).decode().rstrip("=")
    bare = base64.b64encode(OLD_KEK).decode()
    keks = parse_keks(f"new:{urlsafe}\n{bare}\n", "test")
    assert keks == [("new", NEW_KEK), (derived_kek_id(OLD_KEK), OLD_KEK)]
    assert derived_kek_id(OLD_KEK) == derived_kek_id(OLD_KEK) != derived_kek_id(NEW_KEK)
    assert len(derived_kek_id(OLD_KEK)) == 8


def test_new_kek_line_parses_to_a_fresh_key() -> None:
    line = new_kek_line()
    ((kek_id, kek),) = parse_keks(line, "test")
    assert len(kek) == 32 and kek_id == derived_kek_id(kek) and line.startswith(f"{kek_id}:")
    assert parse_keks(new_kek_line(), "test")[0][1] != kek


TOO_SHORT = base64.b64encode(OLD_KEK[:16]).decode()
KEY_B64 = base64.b64encode(OLD_KEK).decode()
KEY_URLSAFE = base64.urlsafe_b64encode(OLD_KEK).decode().rstrip("=")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", "holds no KEK"),
        (" , ,", "holds no KEK"),
        (f"k1:{KEY_B64[:-2]}!!", r"entry 1 of 1: the key is not base64"),
        (f"k1:{TOO_SHORT}", r"entry 1 of 1: the key is 16 bytes; a KEK is 32 random bytes"),
        (f"k1:{base64.b64encode(OLD_KEK + NEW_KEK).decode()}", r"the key is 64 bytes"),
        (f"bad!id:{KEY_B64}", r"entry 1 of 1: the id before ':' must be"),
        (f"bad id:{KEY_B64}", r"entry 1 of 2: the key is 2 bytes"),  # whitespace separates entries
        (f":{KEY_B64}", r"the id before ':' must be"),
        (f"k1:{KEY_B64},k1:{base64.b64encode(NEW_KEK).decode()}", r"entry 2 of 2: its id is already used"),
        (f"{KEY_URLSAFE}:k1", r"entry 1 of 1: the key is 1 bytes"),  # id and key swapped: the "id" is the key
        (f"k1:{KEY_B64}:extra", r"the key is not base64"),
    ],
    ids=[
        "empty",
        "separators-only",
        "not-base64",
        "16-bytes",
        "64-bytes",
        "bad-id",
        "space-in-id",
        "empty-id",
        "duplicate-id",
        "key-and-id-swapped",
        "extra-colon",
    ],
)
def test_bad_values_are_refused_clearly_without_echoing_the_key(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: str
) -> None:
    monkeypatch.setenv(KEY_VAR, value)
    with pytest.raises(SecretError, match=expected) as caught:
        LocalKeyProvider.from_settings(Settings())
    message = str(caught.value)
    assert message.startswith(KEY_VAR)
    assert not any(shown in message for shown in encodings(OLD_KEK) + encodings(NEW_KEK) + [TOO_SHORT])


def test_the_variable_wins_over_the_key_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(KEY_VAR, kek_entry("env", NEW_KEK))
    keys = LocalKeyProvider.from_settings(Settings(state_dir=tmp_path, secrets_kek_file=tmp_path / "absent"))
    assert keys.primary_id == "env"
    assert not (tmp_path / "secrets.kek").exists()


# ------------------------------------------------------------ the key file
def test_default_key_file_is_created_0600_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    state = tmp_path / "state" / "nested"
    with caplog.at_level(logging.WARNING, logger="sandbox.secrets.keys"):
        first = LocalKeyProvider.from_settings(Settings(state_dir=state))
    path = state / "secrets.kek"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in state.iterdir()] == ["secrets.kek"]  # no temporary file left behind
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    text = warnings[0].getMessage()
    assert str(path) in text and KEY_VAR in text and "production" in text and "copies the state directory" in text
    assert path.read_text().split(":")[1].strip() not in text

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="sandbox.secrets.keys"):
        second = LocalKeyProvider.from_settings(Settings(state_dir=state))
    assert second.ids() == first.ids() and not caplog.records  # the same key, read back, no new warning


def test_a_key_wrapped_by_one_process_unwraps_in_the_next(tmp_path: Path) -> None:
    first = LocalKeyProvider.from_settings(Settings(state_dir=tmp_path))
    kek_id, wrapped = first.wrap(b"d" * 32, b"owner|NAME|1")
    second = LocalKeyProvider.from_settings(Settings(state_dir=tmp_path))
    assert second.unwrap(kek_id, wrapped, b"owner|NAME|1") == b"d" * 32


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620, 0o644])
def test_a_key_file_others_may_access_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "kek"
    path.write_text(kek_entry("k1", OLD_KEK) + "\n")
    path.chmod(mode)
    with pytest.raises(SecretError, match=f"group or others \\(mode {mode:04o}\\).*0600 or 0400") as caught:
        LocalKeyProvider.from_settings(Settings(state_dir=tmp_path, secrets_kek_file=path))
    assert str(path) in str(caught.value)
    assert not any(shown in str(caught.value) for shown in encodings(OLD_KEK))


def test_an_explicit_key_file_is_read_and_never_created(tmp_path: Path) -> None:
    path = tmp_path / "delivered.kek"
    with pytest.raises(SecretError, match=r"SANDBOX_SECRETS_KEK_FILE=.*does not exist"):
        LocalKeyProvider.from_settings(Settings(state_dir=tmp_path, secrets_kek_file=path))
    assert not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o400)
    os.write(fd, f"{kek_entry('new', NEW_KEK)}\n{kek_entry('old', OLD_KEK)}\n".encode())
    os.close(fd)
    keys = LocalKeyProvider.from_settings(Settings(state_dir=tmp_path, secrets_kek_file=path))
    assert keys.primary_id == "new" and keys.ids() == {"new", "old"}


def test_a_bad_key_file_names_the_file_not_the_key(tmp_path: Path) -> None:
    path = tmp_path / "kek"
    path.write_text(f"k1:{TOO_SHORT}\n")
    path.chmod(0o600)
    with pytest.raises(SecretError, match="kek: entry 1 of 1: the key is 16 bytes") as caught:
        LocalKeyProvider.from_settings(Settings(state_dir=tmp_path, secrets_kek_file=path))
    assert TOO_SHORT not in str(caught.value)
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(SecretError, match="is not text"):
        LocalKeyProvider.from_settings(Settings(state_dir=tmp_path, secrets_kek_file=path))
    path.unlink()
    path.mkdir()
    with pytest.raises(SecretError, match=r"cannot be read|not a regular file"):
        LocalKeyProvider.from_settings(Settings(state_dir=tmp_path, secrets_kek_file=path))


# ----------------------------------------------------------------- wrapping
def test_wrapping_binds_the_kek_id_and_the_row() -> None:
    keys = LocalKeyProvider([("a", OLD_KEK)])
    kek_id, wrapped = keys.wrap(b"k" * 32, b"owner|NAME|1")
    assert kek_id == "a" and b"k" * 32 not in wrapped
    assert keys.unwrap("a", wrapped, b"owner|NAME|1") == b"k" * 32
    with pytest.raises(SecretError, match="does not authenticate"):
        keys.unwrap("a", wrapped, b"owner|NAME|2")
    with pytest.raises(SecretError, match="KEK 'b' is not loaded"):
        keys.unwrap("b", wrapped, b"owner|NAME|1")
    renamed = LocalKeyProvider([("b", OLD_KEK)])  # the same material under another id
    with pytest.raises(SecretError, match="does not authenticate"):
        renamed.unwrap("b", wrapped, b"owner|NAME|1")
    with pytest.raises(SecretError, match="not in a known format"):
        keys.unwrap("a", b"\x02" + wrapped[1:], b"owner|NAME|1")


def test_the_wrapping_key_is_derived_not_the_kek_itself() -> None:
    """HKDF purpose separation: the raw KEK does not unwrap what the provider wrapped; the derived key does."""
    keys = LocalKeyProvider([("a", OLD_KEK)])
    _, wrapped = keys.wrap(b"k" * 32, b"row")
    with pytest.raises(SecretError, match="does not authenticate"):
        unwrap_dek(OLD_KEK, "a", wrapped, b"row")
    assert unwrap_dek(derive_wrapping_key(OLD_KEK), "a", wrapped, b"row") == b"k" * 32


def test_providers_refuse_empty_or_duplicate_sets() -> None:
    with pytest.raises(SecretError, match="no KEK"):
        LocalKeyProvider([])
    with pytest.raises(SecretError, match="share an id"):
        LocalKeyProvider([("a", OLD_KEK), ("a", NEW_KEK)])
