"""The database schema (SQLAlchemy 2.0 declarative). Rows never leave ``sandbox.store``."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class SchemaVersion(Base):
    """The hand-written migrations' version (``sandbox.store.legacy``); Alembic's ``alembic_version`` now
    says the revision, and this keeps ``legacy.ALEMBIC_MARK`` so that an older replica refuses the database.

    A change to any model here needs a revision under ``migrations/versions`` (``tests/unit/store/
    test_schema.py`` compares a migrated database with these models)."""

    __tablename__ = "schema_version"
    version: Mapped[int] = mapped_column(Integer, primary_key=True)


class ApiKeyRow(Base):
    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    prefix: Mapped[str] = mapped_column(String(16))
    policy: Mapped[str] = mapped_column(String(64))
    max_concurrency: Mapped[int] = mapped_column(Integer)
    rate_per_min: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # The operations permission: reads every key's activity through GET /v1/ops (``sandbox keys create --ops``).
    ops: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class ExecutionRow(Base):
    __tablename__ = "executions"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key_id: Mapped[str | None] = mapped_column(ForeignKey("api_keys.id"), index=True, nullable=True)
    language: Mapped[str] = mapped_column(String(32))
    policy: Mapped[str] = mapped_column(String(64))
    state: Mapped[Literal["running", "done"]] = mapped_column(String(16))
    status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    signal: Mapped[int | None] = mapped_column(Integer, nullable=True)
    wall_ms: Mapped[int] = mapped_column(Integer, default=0)
    cpu_ms: Mapped[int] = mapped_column(Integer, default=0)
    peak_memory_bytes: Mapped[int] = mapped_column(Integer, default=0)
    stdout: Mapped[str] = mapped_column(Text, default="")
    stderr: Mapped[str] = mapped_column(Text, default="")
    stdout_truncated: Mapped[bool] = mapped_column(Boolean, default=False)
    stderr_truncated: Mapped[bool] = mapped_column(Boolean, default=False)
    stdout_bytes: Mapped[int] = mapped_column(Integer, default=0)
    stderr_bytes: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str] = mapped_column(Text, default="")
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    code_sha256: Mapped[str] = mapped_column(String(64), default="")
    session_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    # The secrets the run was given, by name: their versions (never a value); None for a run without any.
    secrets: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # A compiled run's compile result and tests mode's cases and summary; None for a plain run.
    stages: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class AuditRow(Base):
    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    key_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    event: Mapped[str] = mapped_column(String(64), index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class SessionRow(Base):
    __tablename__ = "sessions"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id"), index=True)
    language: Mapped[str] = mapped_column(String(32))
    policy: Mapped[str] = mapped_column(String(64))
    state: Mapped[Literal["open", "closed"]] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    idle_ttl_s: Mapped[float] = mapped_column(Float)
    executions: Mapped[int] = mapped_column(Integer, default=0)
    closed_reason: Mapped[str] = mapped_column(Text, default="")
    # The server instance holding its container (``sandbox.instance``): a dead one's open sessions are closed.
    instance: Mapped[str | None] = mapped_column(String(200), nullable=True)


class SecretRow(Base):
    """One secret of one API key, encrypted (``sandbox.secrets``): only the current version is kept.

    The value is AES-256-GCM under its own data key (DEK), bound to ``owner|name|version``; the DEK
    is stored wrapped by the key-encryption key ``kek_id`` (which never is in the database). The
    wrap's nonce is inside ``wrapped_dek``, whose format belongs to the key provider (a KMS returns
    an opaque blob), so rotating the KEK rewrites only ``kek_id`` and ``wrapped_dek``.
    """

    __tablename__ = "secrets"
    __table_args__ = (UniqueConstraint("owner_key_id", "name", name="uq_secrets_owner_name"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    version: Mapped[int] = mapped_column(Integer)
    kek_id: Mapped[str] = mapped_column(String(200), index=True)  # room for a KMS key ARN
    wrapped_dek: Mapped[bytes] = mapped_column(LargeBinary)
    value_nonce: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
