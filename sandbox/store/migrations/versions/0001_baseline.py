"""Baseline: the schema as the hand-written migrations left it (their v6), now under Alembic.

A fresh database gets every table here; a database made before Alembic (a ``schema_version``
table, no ``alembic_version``) is brought to v6 by ``sandbox.store.legacy`` and stamped with this
revision instead. ``schema_version`` stays, holding ``legacy.ALEMBIC_MARK``: a replica of an older
version refuses the database as newer than itself rather than writing to it.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sandbox.store.legacy import ALEMBIC_MARK

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    version = op.create_table("schema_version", sa.Column("version", sa.Integer(), primary_key=True))
    op.bulk_insert(version, [{"version": ALEMBIC_MARK}])
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("policy", sa.String(length=64), nullable=False),
        sa.Column("max_concurrency", sa.Integer(), nullable=False),
        sa.Column("rate_per_min", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ops", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.UniqueConstraint("name"),
    )
    op.create_index("ix_api_keys_key_hash", "api_keys", ["key_hash"], unique=True)
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=True),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
    )
    op.create_index("ix_audit_events_at", "audit_events", ["at"])
    op.create_index("ix_audit_events_event", "audit_events", ["event"])
    op.create_index("ix_audit_events_key_id", "audit_events", ["key_id"])
    op.create_table(
        "executions",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("key_id", sa.String(length=32), sa.ForeignKey("api_keys.id"), nullable=True),
        sa.Column("language", sa.String(length=32), nullable=False),
        sa.Column("policy", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("signal", sa.Integer(), nullable=True),
        sa.Column("wall_ms", sa.Integer(), nullable=False),
        sa.Column("cpu_ms", sa.Integer(), nullable=False),
        sa.Column("peak_memory_bytes", sa.Integer(), nullable=False),
        sa.Column("stdout", sa.Text(), nullable=False),
        sa.Column("stderr", sa.Text(), nullable=False),
        sa.Column("stdout_truncated", sa.Boolean(), nullable=False),
        sa.Column("stderr_truncated", sa.Boolean(), nullable=False),
        sa.Column("stdout_bytes", sa.Integer(), nullable=False),
        sa.Column("stderr_bytes", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("findings", sa.JSON(), nullable=False),
        sa.Column("code_sha256", sa.String(length=64), nullable=False),
        sa.Column("session_id", sa.String(length=32), nullable=True),
        sa.Column("secrets", sa.JSON(), nullable=True),
        sa.Column("stages", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_executions_created_at", "executions", ["created_at"])
    op.create_index("ix_executions_key_id", "executions", ["key_id"])
    op.create_index("ix_executions_session_id", "executions", ["session_id"])
    op.create_table(
        "secrets",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("owner_key_id", sa.String(length=32), sa.ForeignKey("api_keys.id"), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kek_id", sa.String(length=200), nullable=False),
        sa.Column("wrapped_dek", sa.LargeBinary(), nullable=False),
        sa.Column("value_nonce", sa.LargeBinary(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("owner_key_id", "name", name="uq_secrets_owner_name"),
    )
    op.create_index("ix_secrets_kek_id", "secrets", ["kek_id"])
    op.create_index("ix_secrets_owner_key_id", "secrets", ["owner_key_id"])
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("key_id", sa.String(length=32), sa.ForeignKey("api_keys.id"), nullable=False),
        sa.Column("language", sa.String(length=32), nullable=False),
        sa.Column("policy", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("idle_ttl_s", sa.Float(), nullable=False),
        sa.Column("executions", sa.Integer(), nullable=False),
        sa.Column("closed_reason", sa.Text(), nullable=False),
        sa.Column("instance", sa.String(length=200), nullable=True),
    )
    op.create_index("ix_sessions_key_id", "sessions", ["key_id"])


def downgrade() -> None:
    for table in ("sessions", "secrets", "executions", "audit_events", "api_keys", "schema_version"):
        op.drop_table(table)
