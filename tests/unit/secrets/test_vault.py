"""SecretStore on a real SQLite file and a real PostgreSQL database: round trips, versions, tenancy, tampering,
KEK rotation."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import text

from sandbox.errors import RequestRejected, SecretError, StoreError
from sandbox.secrets import LocalKeyProvider, SecretStore, check_name
from sandbox.store import Store
from tests.unit.secrets.conftest import NEW_KEK, OLD_KEK

SEALED_COLUMNS = ("kek_id", "wrapped_dek", "value_nonce", "ciphertext")


def raw(store: Store, sql: str, *params: object) -> list[tuple[Any, ...]]:
    """Query or change the database directly, with SQL on a connection of its own: an attacker with
    database access. ``?`` marks the parameters, in order."""
    numbered = iter(range(len(params)))
    statement = text(re.sub(r"\?", lambda _: f":p{next(numbered)}", sql))
    with store.engine.begin() as connection:
        result = connection.execute(statement, {f"p{i}": value for i, value in enumerate(params)})
        return [tuple(row) for row in result] if result.returns_rows else []


def sealed_of(store: Store, owner: str, name: str) -> tuple[Any, ...]:
    columns = ", ".join(SEALED_COLUMNS)
    return raw(store, f"SELECT {columns} FROM secrets WHERE owner_key_id = ? AND name = ?", owner, name)[0]


def overwrite_sealed(store: Store, owner: str, name: str, sealed: tuple[Any, ...]) -> None:
    assignments = ", ".join(f"{c} = ?" for c in SEALED_COLUMNS)
    raw(store, f"UPDATE secrets SET {assignments} WHERE owner_key_id = ? AND name = ?", *sealed, owner, name)


# ------------------------------------------------------------------ basics
def test_round_trip(vault: SecretStore, owners: tuple[str, str]) -> None:
    alice, _ = owners
    info, created = vault.put(alice, "API_TOKEN", "tok-é-✓-123")
    assert created and info.name == "API_TOKEN" and info.version == 1
    assert info.created_at == info.updated_at and info.created_at.tzinfo is not None
    assert vault.reveal(alice, ["API_TOKEN"]) == {"API_TOKEN": ("tok-é-✓-123", 1)}


def test_replace_bumps_the_version_and_keeps_one_row(vault: SecretStore, owners: tuple[str, str], store: Store) -> None:
    alice, _ = owners
    first, _ = vault.put(alice, "DB_PASSWORD", "value-one")
    second, created = vault.put(alice, "DB_PASSWORD", "value-two")
    third, _ = vault.put(alice, "DB_PASSWORD", "value-three")
    assert not created and (second.version, third.version) == (2, 3)
    assert third.created_at == first.created_at and third.updated_at >= second.updated_at
    assert vault.reveal(alice, ["DB_PASSWORD"]) == {"DB_PASSWORD": ("value-three", 3)}
    assert raw(store, "SELECT count(*) FROM secrets") == [(1,)]


def test_list_shows_names_and_versions_never_values(vault: SecretStore, owners: tuple[str, str]) -> None:
    alice, _ = owners
    vault.put(alice, "ZETA", "zeta-value-1")
    vault.put(alice, "ALPHA", "alpha-value-1")
    vault.put(alice, "ALPHA", "alpha-value-2")
    listed = vault.list(alice)
    assert [(s.name, s.version) for s in listed] == [("ALPHA", 2), ("ZETA", 1)]
    dumped = repr(listed) + str([s.model_dump() for s in listed])
    assert "value" not in dumped
    assert set(listed[0].model_dump()) == {"name", "version", "created_at", "updated_at"}


def test_delete_and_missing(vault: SecretStore, owners: tuple[str, str]) -> None:
    alice, _ = owners
    vault.put(alice, "A", "a-value-1")
    vault.put(alice, "B", "b-value-1")
    assert vault.missing(alice, ["B", "C", "A", "C", "D"]) == ["C", "D"]
    assert vault.delete(alice, "A") is True
    assert vault.delete(alice, "A") is False
    assert vault.missing(alice, ["A", "B"]) == ["A"]
    assert [s.name for s in vault.list(alice)] == ["B"]


def test_reveal_only_the_names_asked_and_rejects_unknown_ones(vault: SecretStore, owners: tuple[str, str]) -> None:
    alice, _ = owners
    vault.put(alice, "ONE", "value-one")
    vault.put(alice, "TWO", "value-two")
    assert vault.reveal(alice, ["TWO"]) == {"TWO": ("value-two", 1)}
    assert vault.reveal(alice, []) == {}
    with pytest.raises(RequestRejected, match="no such secret: NOPE, ZZZ") as caught:
        vault.reveal(alice, ["ONE", "ZZZ", "NOPE"])
    assert "value-one" not in str(caught.value)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "empty"),
        ("lower", "upper-case"),
        ("1ABC", "starts with a digit"),
        ("A" * 129, "129 characters"),
        ("ABC\n", "upper-case"),
        ("A|B", "upper-case"),
        ("A-B", "upper-case"),
    ],
)
def test_names_are_guarded_without_being_echoed(
    vault: SecretStore, owners: tuple[str, str], name: str, reason: str
) -> None:
    alice, _ = owners
    for call in (
        lambda: vault.put(alice, name, "value-123"),
        lambda: vault.delete(alice, name),
        lambda: vault.missing(alice, ["OK", name]),
        lambda: vault.reveal(alice, [name]),
    ):
        with pytest.raises(RequestRejected, match=reason) as caught:
            call()
        assert not name or name not in str(caught.value)
    check_name("_OK_1")
    check_name("A" * 128)


def test_oversized_or_invalid_values_are_rejected(vault: SecretStore, owners: tuple[str, str]) -> None:
    alice, _ = owners
    with pytest.raises(RequestRejected, match="more than 4096"):
        vault.put(alice, "BIG", "x" * (4 * 1024 + 1))
    with pytest.raises(RequestRejected, match="not valid Unicode"):
        vault.put(alice, "SURROGATE", "\udc80")
    assert vault.list(alice) == []


def test_an_unknown_owner_cannot_store(vault: SecretStore) -> None:
    with pytest.raises(StoreError, match="store a secret"):
        vault.put("f" * 32, "TOKEN", "value-123")


def test_a_lost_insert_race_replaces_instead(
    vault: SecretStore, owners: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process created the secret between our read and our insert: the put retries as a replace."""
    alice, _ = owners
    vault.put(alice, "RACE", "theirs-value")
    real_head = vault._head
    stale = iter([None])
    monkeypatch.setattr(vault, "_head", lambda owner, name: next(stale, real_head(owner, name)))
    info, created = vault.put(alice, "RACE", "ours-value")
    assert (info.version, created) == (2, False)
    assert vault.reveal(alice, ["RACE"]) == {"RACE": ("ours-value", 2)}


# ----------------------------------------------------------------- tenancy
def test_another_owner_cannot_see_reveal_or_delete(vault: SecretStore, owners: tuple[str, str]) -> None:
    alice, bob = owners
    vault.put(alice, "TOKEN", "alice-token-value")
    assert vault.list(bob) == []
    assert vault.missing(bob, ["TOKEN"]) == ["TOKEN"]
    with pytest.raises(RequestRejected, match="no such secret: TOKEN") as caught:
        vault.reveal(bob, ["TOKEN"])
    assert "alice-token-value" not in str(caught.value)
    assert vault.delete(bob, "TOKEN") is False
    info, created = vault.put(bob, "TOKEN", "bob-token-value")
    assert created and info.version == 1
    assert vault.reveal(alice, ["TOKEN"]) == {"TOKEN": ("alice-token-value", 1)}
    assert vault.reveal(bob, ["TOKEN"]) == {"TOKEN": ("bob-token-value", 1)}


# ---------------------------------------------------------------- tampering
def test_tampered_ciphertext_raises_naming_the_secret(
    vault: SecretStore, owners: tuple[str, str], store: Store
) -> None:
    alice, _ = owners
    vault.put(alice, "TOKEN", "original-value")
    kek_id, wrapped, nonce, ciphertext = sealed_of(store, alice, "TOKEN")
    flipped = bytes([ciphertext[0] ^ 1]) + ciphertext[1:]
    overwrite_sealed(store, alice, "TOKEN", (kek_id, wrapped, nonce, flipped))
    with pytest.raises(SecretError) as caught:
        vault.reveal(alice, ["TOKEN"])
    message = str(caught.value)
    assert "'TOKEN'" in message and alice in message and "original-value" not in message


@pytest.mark.parametrize("part", ["wrapped_dek", "value_nonce"])
def test_tampered_key_or_nonce_raises(vault: SecretStore, owners: tuple[str, str], store: Store, part: str) -> None:
    alice, _ = owners
    vault.put(alice, "TOKEN", "original-value")
    sealed = list(sealed_of(store, alice, "TOKEN"))
    index = SEALED_COLUMNS.index(part)
    blob = sealed[index]
    sealed[index] = blob[:-1] + bytes([blob[-1] ^ 0x80])
    overwrite_sealed(store, alice, "TOKEN", tuple(sealed))
    with pytest.raises(SecretError, match="'TOKEN'"):
        vault.reveal(alice, ["TOKEN"])


def test_a_truncated_nonce_raises_not_crashes(vault: SecretStore, owners: tuple[str, str], store: Store) -> None:
    alice, _ = owners
    vault.put(alice, "TOKEN", "original-value")
    kek_id, wrapped, _, ciphertext = sealed_of(store, alice, "TOKEN")
    overwrite_sealed(store, alice, "TOKEN", (kek_id, wrapped, b"short", ciphertext))
    with pytest.raises(SecretError, match="'TOKEN'"):
        vault.reveal(alice, ["TOKEN"])


def test_ciphertext_moved_to_another_name_does_not_decrypt(
    vault: SecretStore, owners: tuple[str, str], store: Store
) -> None:
    alice, _ = owners
    vault.put(alice, "SOURCE", "the-source-value")
    vault.put(alice, "TARGET", "the-target-value")
    overwrite_sealed(store, alice, "TARGET", sealed_of(store, alice, "SOURCE"))
    with pytest.raises(SecretError, match="'TARGET'") as caught:
        vault.reveal(alice, ["TARGET"])
    assert "the-source-value" not in str(caught.value) and "the-target-value" not in str(caught.value)
    assert vault.reveal(alice, ["SOURCE"]) == {"SOURCE": ("the-source-value", 1)}


def test_ciphertext_moved_to_another_owner_does_not_decrypt(
    vault: SecretStore, owners: tuple[str, str], store: Store
) -> None:
    alice, bob = owners
    vault.put(alice, "TOKEN", "alice-token-value")
    vault.put(bob, "TOKEN", "bob-token-value")
    overwrite_sealed(store, bob, "TOKEN", sealed_of(store, alice, "TOKEN"))
    with pytest.raises(SecretError, match=f"'TOKEN' of key {bob}"):
        vault.reveal(bob, ["TOKEN"])


def test_whole_row_moved_to_another_owner_does_not_decrypt(
    vault: SecretStore, owners: tuple[str, str], store: Store
) -> None:
    """Re-owning a row (the attacker changes owner_key_id) fails too: the owner is in the associated data."""
    alice, bob = owners
    vault.put(alice, "TOKEN", "alice-token-value")
    raw(store, "UPDATE secrets SET owner_key_id = ? WHERE owner_key_id = ?", bob, alice)
    with pytest.raises(SecretError, match=f"'TOKEN' of key {bob}"):
        vault.reveal(bob, ["TOKEN"])


def test_an_older_version_replayed_does_not_decrypt(vault: SecretStore, owners: tuple[str, str], store: Store) -> None:
    """Restoring version 1's sealed value into the version-2 row (a rollback) fails: the version is bound."""
    alice, _ = owners
    vault.put(alice, "TOKEN", "version-one")
    old = sealed_of(store, alice, "TOKEN")
    vault.put(alice, "TOKEN", "version-two")
    overwrite_sealed(store, alice, "TOKEN", old)
    with pytest.raises(SecretError, match="'TOKEN'"):
        vault.reveal(alice, ["TOKEN"])
    raw(store, "UPDATE secrets SET version = 1 WHERE owner_key_id = ?", alice)
    assert vault.reveal(alice, ["TOKEN"]) == {"TOKEN": ("version-one", 1)}  # only with its own version


def test_the_wrong_kek_raises(store: Store, vault: SecretStore, owners: tuple[str, str]) -> None:
    alice, _ = owners
    vault.put(alice, "TOKEN", "value-under-old")
    impostor = SecretStore(store, LocalKeyProvider([("old", NEW_KEK)]))  # same id, other key
    with pytest.raises(SecretError, match=r"'TOKEN'.*does not authenticate"):
        impostor.reveal(alice, ["TOKEN"])


# ----------------------------------------------------------------- rotation
def test_kek_rotation_rewraps_without_reencrypting(store: Store, owners: tuple[str, str]) -> None:
    alice, bob = owners
    before = SecretStore(store, LocalKeyProvider([("old", OLD_KEK)]))
    for owner, name in [(alice, "A"), (alice, "B"), (bob, "A")]:
        before.put(owner, name, f"{owner}-{name}-value")
    values_before = raw(store, "SELECT id, value_nonce, ciphertext FROM secrets ORDER BY id")

    both = SecretStore(store, LocalKeyProvider([("new", NEW_KEK), ("old", OLD_KEK)]))
    report = both.rotate_kek()
    assert (report.primary, report.rewrapped, report.current, report.skipped) == ("new", 3, 0, 0)
    assert raw(store, "SELECT DISTINCT kek_id FROM secrets") == [("new",)]
    assert raw(store, "SELECT id, value_nonce, ciphertext FROM secrets ORDER BY id") == values_before
    again = both.rotate_kek()
    assert (again.rewrapped, again.current) == (0, 3)

    only_new = SecretStore(store, LocalKeyProvider([("new", NEW_KEK)]))
    assert only_new.verify() == 3
    assert only_new.reveal(alice, ["A", "B"]) == {"A": (f"{alice}-A-value", 1), "B": (f"{alice}-B-value", 1)}
    assert only_new.reveal(bob, ["A"]) == {"A": (f"{bob}-A-value", 1)}


def test_new_secrets_go_under_the_primary_while_old_ones_still_reveal(store: Store, owners: tuple[str, str]) -> None:
    alice, _ = owners
    SecretStore(store, LocalKeyProvider([("old", OLD_KEK)])).put(alice, "OLD", "old-value")
    both = SecretStore(store, LocalKeyProvider([("new", NEW_KEK), ("old", OLD_KEK)]))
    both.put(alice, "NEW", "new-value")
    assert dict(raw(store, "SELECT name, kek_id FROM secrets")) == {"OLD": "old", "NEW": "new"}
    assert both.reveal(alice, ["OLD", "NEW"]) == {"OLD": ("old-value", 1), "NEW": ("new-value", 1)}


def test_verify_names_the_missing_kek_and_how_many_need_it(store: Store, owners: tuple[str, str]) -> None:
    alice, bob = owners
    old = SecretStore(store, LocalKeyProvider([("old", OLD_KEK)]))
    old.put(alice, "A", "a-value-1")
    old.put(bob, "B", "b-value-1")
    assert old.verify() == 2
    only_new = SecretStore(store, LocalKeyProvider([("new", NEW_KEK)]))
    with pytest.raises(SecretError, match=r"not loaded: 'old' \(2 secrets\)"):
        only_new.verify()
    with pytest.raises(SecretError, match="'old'"):
        only_new.rotate_kek()  # nothing is half-done: the check comes first
    with pytest.raises(SecretError, match=r"'A'.*KEK 'old' is not loaded"):
        only_new.reveal(alice, ["A"])


def test_verify_names_a_secret_whose_key_was_tampered_with(
    vault: SecretStore, owners: tuple[str, str], store: Store
) -> None:
    alice, _ = owners
    vault.put(alice, "GOOD", "good-value")
    vault.put(alice, "BAD", "bad-value")
    kek_id, wrapped, nonce, ciphertext = sealed_of(store, alice, "BAD")
    overwrite_sealed(store, alice, "BAD", (kek_id, wrapped[:-1] + bytes([wrapped[-1] ^ 1]), nonce, ciphertext))
    with pytest.raises(SecretError, match=f"'BAD' of key {alice} does not unwrap"):
        vault.verify()


def test_verify_on_an_empty_store(vault: SecretStore) -> None:
    assert vault.verify() == 0
    assert vault.rotate_kek().rewrapped == 0
