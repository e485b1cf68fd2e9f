"""Databases made before Alembic: brought to the baseline revision with the hand-written steps they knew.

Until this version the store kept a ``schema_version`` table (v1..v6) and ran the steps below
after ``create_all``. Such a database has no ``alembic_version`` table; ``bring_to_baseline``
applies the steps it lacks (the statements the old code ran, so it ends exactly where the old
v6 did, rows kept), then ``schema`` stamps it with the baseline revision, which equals v6.
From then on ``schema_version`` holds ``ALEMBIC_MARK``, which an older replica refuses as newer.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    inspect,
    text,
)

from sandbox.errors import StoreError

#: The last version of the hand-written migrations; the baseline revision is equal to it.
LEGACY_HEAD = 6
#: What ``schema_version`` holds once Alembic manages the database (older code refuses anything above 6).
ALEMBIC_MARK = LEGACY_HEAD + 1

#: The hand-written steps, as they were (create_all made the secrets table of v4: ``_SECRETS`` below).
STEPS: dict[int, list[str]] = {
    2: [
        "ALTER TABLE executions ADD COLUMN session_id VARCHAR(32)",
        "CREATE INDEX IF NOT EXISTS ix_executions_session_id ON executions (session_id)",
    ],
    3: ["ALTER TABLE sessions ADD COLUMN instance VARCHAR(200)"],
    4: ["ALTER TABLE executions ADD COLUMN secrets JSON"],
    5: ["ALTER TABLE executions ADD COLUMN stages JSON"],
    6: ["ALTER TABLE api_keys ADD COLUMN ops BOOLEAN NOT NULL DEFAULT FALSE"],  # every older key: no ops permission
}

_FROZEN = MetaData()
Table("api_keys", _FROZEN, Column("id", String(32), primary_key=True))  # the target of the foreign key only
#: The secrets table as v4 made it (frozen here: the models in ``tables`` may change in later revisions).
_SECRETS = Table(
    "secrets",
    _FROZEN,
    Column("id", String(32), primary_key=True),
    Column("owner_key_id", String(32), ForeignKey("api_keys.id"), nullable=False, index=True),
    Column("name", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    Column("kek_id", String(200), nullable=False, index=True),
    Column("wrapped_dek", LargeBinary, nullable=False),
    Column("value_nonce", LargeBinary, nullable=False),
    Column("ciphertext", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("owner_key_id", "name", name="uq_secrets_owner_name"),
)


def legacy_version(connection: Connection) -> int | None:
    """The hand-written schema version of a database made before Alembic; None for any other."""
    tables = set(inspect(connection).get_table_names())
    if "alembic_version" in tables or "schema_version" not in tables:
        return None
    version = connection.execute(text("SELECT max(version) FROM schema_version")).scalar()
    return int(version) if version is not None else None


def bring_to_baseline(connection: Connection, version: int) -> None:
    """Apply the steps after ``version`` (inside the caller's transaction) and mark the database."""
    if version > LEGACY_HEAD:
        raise StoreError(
            f"database schema v{version} has no Alembic revision: it was made by another version of this "
            "service; open it with that version, or restore a backup"
        )
    for step in range(version + 1, LEGACY_HEAD + 1):
        if step == 4:
            _SECRETS.create(connection, checkfirst=True)
        for statement in STEPS[step]:
            connection.execute(text(statement))
    connection.execute(text("DELETE FROM schema_version"))
    connection.execute(text("INSERT INTO schema_version (version) VALUES (:v)"), {"v": ALEMBIC_MARK})
