"""Persistence: API keys (hashed), execution records, the audit log.

SQLite by default (WAL, one file under the state directory); PostgreSQL
(``postgresql+psycopg://``) for several replicas sharing one database. Opening a
``Store`` migrates its schema (``schema``: Alembic). Calls are synchronous and
short; the API runs them in a worker thread. Every database error comes out as
``StoreUnavailable`` (unreachable: 503, retry) or ``StoreError`` (``engine.failure``).
Rows are turned into ``models`` values here and never leave this package.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, cast, overload

from sqlalchemy import Connection, Executable, Table, bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import sessionmaker

from sandbox.errors import RequestRejected, SandboxError, StoreError
from sandbox.models import ApiKeyInfo, ExecutionRecord, Finding, SessionInfo, Status
from sandbox.store import schema
from sandbox.store.engine import failure, make_engine, redact_url, unreachable
from sandbox.store.tables import ApiKeyRow, AuditRow, ExecutionRow, SessionRow

KEY_PREFIX = "sbx_"
_EXECUTIONS = cast(Table, ExecutionRow.__table__)
#: Statements built once; values go in as execution parameters (compiled once, cached by SQLAlchemy).
INSERT_EXECUTION = insert(_EXECUTIONS)
UPDATE_EXECUTION = update(_EXECUTIONS).where(_EXECUTIONS.c.id == bindparam("record_id"))


def upsert_execution(dialect: str) -> Executable | None:
    """INSERT ... ON CONFLICT (id) DO UPDATE for SQLite and PostgreSQL (the owner never changes)."""
    if dialect not in ("sqlite", "postgresql"):
        return None
    module = sqlite if dialect == "sqlite" else postgresql
    statement = module.insert(_EXECUTIONS)
    kept = {c.name: statement.excluded[c.name] for c in _EXECUTIONS.c if c.name not in ("id", "key_id")}
    upsert: Executable = statement.on_conflict_do_update(index_elements=[_EXECUTIONS.c.id], set_=kept)
    return upsert


#: The parts of a result kept together in ``executions.stages`` (artifacts: their entries, not their bytes;
#: ``session_open``: a session cell's, whether its session outlived it; ``cached_from``: a cached result's origin).
STAGES = ("compile", "tests", "summary", "artifacts", "session_open", "cached_from")


def hash_key(plaintext: str) -> str:
    """SHA-256 of a key: keys are 256-bit random tokens, so a plain hash is enough to store."""
    return hashlib.sha256(plaintext.encode()).hexdigest()


def now() -> datetime:
    return datetime.now(UTC)


def _as_utc(values: dict[str, Any]) -> dict[str, Any]:
    """Aware datetimes converted to UTC: SQLite keeps the wall-clock time and drops the offset."""
    return {k: v.astimezone(UTC) if isinstance(v, datetime) and v.tzinfo else v for k, v in values.items()}


@overload
def _utc(value: datetime) -> datetime: ...
@overload
def _utc(value: datetime | None) -> datetime | None: ...
def _utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


class Store:
    """The service's database; see the module docstring."""

    def __init__(self, url: str, *, output_bytes: int = 64 << 10) -> None:
        """Open ``url`` and bring its schema to the newest revision (``revision``); ``StoreError`` if it cannot."""
        self.url = url
        self.output_bytes = output_bytes
        try:
            self.engine: Engine = make_engine(url)
        except (SQLAlchemyError, ImportError, ValueError) as exc:  # ImportError: no driver for the URL
            raise StoreError(f"cannot open the database {redact_url(url)}: {type(exc).__name__}") from exc
        self._session = sessionmaker(self.engine, expire_on_commit=False)
        self._upsert_statement = upsert_execution(self.engine.dialect.name)
        try:
            self.revision = schema.upgrade(self.engine)
        except BaseException as exc:
            self.engine.dispose()  # no connection of a store that never opened is left to the garbage collector
            if isinstance(exc, SQLAlchemyError):
                raise StoreError(f"cannot open the database {redact_url(url)}: {type(exc).__name__}") from exc
            raise

    def close(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------- keys
    def create_key(
        self, name: str, policy: str, max_concurrency: int, rate_per_min: int, *, ops: bool = False
    ) -> tuple[ApiKeyInfo, str]:
        """A new key; the plaintext is returned once and never stored. ``ops``: it may read ``/v1/ops``."""
        plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
        row = ApiKeyRow(
            id=uuid.uuid4().hex,
            name=name,
            key_hash=hash_key(plaintext),
            prefix=plaintext[:10],
            policy=policy,
            max_concurrency=max_concurrency,
            rate_per_min=rate_per_min,
            created_at=now(),
            ops=ops,
        )
        try:
            with self._guard("create a key"), self._session.begin() as session:
                session.add(row)
        except StoreError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                raise RequestRejected(f"an API key named {name!r} already exists") from exc
            raise
        self.audit("key.created", row.id, name=name, policy=policy, ops=ops)
        return _key_info(row), plaintext

    def authenticate(self, plaintext: str) -> ApiKeyInfo | None:
        """The live key with this secret, or None."""
        with self._guard("authenticate a key"), self._session() as session:
            row = session.scalar(select(ApiKeyRow).where(ApiKeyRow.key_hash == hash_key(plaintext)))
        if row is None or row.revoked_at is not None:
            return None
        return _key_info(row)

    def live_keys(self, digests: Sequence[str]) -> dict[str, ApiKeyInfo]:
        """Of these secret hashes (``hash_key``), the live keys, by hash: one query per 500."""
        found: dict[str, ApiKeyInfo] = {}
        with self._guard("confirm keys"), self._session() as session:
            for start in range(0, len(digests), 500):
                chunk = list(digests[start : start + 500])
                rows = session.scalars(
                    select(ApiKeyRow).where(ApiKeyRow.key_hash.in_(chunk), ApiKeyRow.revoked_at.is_(None))
                )
                found.update((row.key_hash, _key_info(row)) for row in rows)
        return found

    def list_keys(self) -> list[ApiKeyInfo]:
        with self._guard("list keys"), self._session() as session:
            return [_key_info(r) for r in session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at))]

    def count_keys(self) -> int:
        with self._guard("count keys"), self._session() as session:
            return session.scalar(select(func.count()).select_from(ApiKeyRow)) or 0

    def revoke_key(self, name_or_id: str) -> bool:
        with self._guard("revoke a key"), self._session.begin() as session:
            row = session.scalar(select(ApiKeyRow).where((ApiKeyRow.name == name_or_id) | (ApiKeyRow.id == name_or_id)))
            if row is None or row.revoked_at is not None:
                return False
            row.revoked_at = now()
            key_id = row.id
        self.audit("key.revoked", key_id)
        return True

    # ------------------------------------------------------------- executions
    def save_execution(self, record: ExecutionRecord, key_id: str | None) -> None:
        """Insert or update one record; output is kept up to ``output_bytes`` per stream."""
        error = self.save_executions([(record, key_id)])[0]
        if error is not None:
            raise error

    def save_executions(self, batch: Sequence[tuple[ExecutionRecord, str | None]]) -> list[SandboxError | None]:
        """Insert or update many records in one transaction; the error of each, if any.

        Core statements, not the ORM: this runs once per execution, and the ORM's
        bookkeeping cost about a millisecond of CPU per record. A batch that fails
        (a record of an unknown key) is retried one record at a time, so only the
        bad record fails. An unreachable database fails them all at once (``StoreUnavailable``).
        """
        rows = [{**self._execution_values(record), "key_id": key_id} for record, key_id in batch]
        try:
            with self.engine.begin() as connection:
                self._upsert(connection, rows)
            return [None] * len(rows)
        except SQLAlchemyError as exc:
            if unreachable(exc):
                return [failure(f"save {len(rows)} execution record(s)", exc)] * len(rows)
            if len(rows) == 1:
                return [StoreError(f"could not save an execution ({rows[0]['id']}): {type(exc).__name__}")]
        return [self.save_executions([one])[0] for one in batch]

    def _upsert(self, connection: Connection, rows: list[dict[str, Any]]) -> None:
        if self._upsert_statement is not None:
            connection.execute(self._upsert_statement, rows)
            return
        for row in rows:  # a dialect without ON CONFLICT: insert, else update
            with connection.begin_nested():
                try:
                    connection.execute(INSERT_EXECUTION, row)
                    continue
                except IntegrityError:
                    pass
            updated = connection.execute(UPDATE_EXECUTION, {**row, "record_id": row["id"]})
            if updated.rowcount != 1:
                raise IntegrityError("upsert", None, Exception(f"no execution {row['id']} to update"))

    def _execution_values(self, record: ExecutionRecord) -> dict[str, Any]:
        # ``cached`` is ``cached_from is not None``: only the id is kept (in ``stages``).
        values = _as_utc(record.model_dump(exclude={"findings", "cached", *STAGES}))
        stages = record.model_dump(mode="json", include=set(STAGES), exclude_none=True)
        # A record keeps ``output_bytes`` per stream: tests mode's cases share it.
        share = self.output_bytes // max(len(stages.get("tests", ())), 1)
        for case in stages.get("tests", ()):
            case["stdout"], case["stderr"] = _head(case["stdout"], share), _head(case["stderr"], share)
        if "compile" in stages:
            stages["compile"]["output"] = _head(stages["compile"]["output"], self.output_bytes)
        for artifact in stages.get("artifacts", ()):
            artifact.pop("content_base64", None)  # the bytes are under state_dir/artifacts, not in the record
        if not stages.get("artifacts"):
            stages.pop("artifacts", None)
        values["stages"] = stages or None
        values["status"] = record.status.value if record.status else None
        values["stdout"] = _head(record.stdout, self.output_bytes)
        values["stderr"] = _head(record.stderr, self.output_bytes)
        values["findings"] = [f.model_dump() for f in record.findings]
        return values

    def get_execution(self, execution_id: str, key_id: str | None) -> ExecutionRecord | None:
        """The execution if it belongs to ``key_id``."""
        with self._guard("read an execution"), self._session() as session:
            row = session.get(ExecutionRow, execution_id)
        if row is None or row.key_id != key_id:
            return None
        return _record(row)

    def list_executions(self, key_id: str | None, limit: int, offset: int) -> tuple[list[ExecutionRecord], int]:
        """A page of the key's executions, newest first, and the total count."""
        with self._guard("list executions"), self._session() as session:
            query = select(ExecutionRow).where(ExecutionRow.key_id == key_id)
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = session.scalars(query.order_by(ExecutionRow.created_at.desc()).limit(limit).offset(offset))
            return [_record(r) for r in rows], total

    # --------------------------------------------------------------- sessions
    def save_session(self, info: SessionInfo, key_id: str, instance: str | None = None) -> None:
        """Insert or update a session's record (its container lives in one server process: ``instance``)."""
        with self._guard("save a session"), self._session.begin() as session:
            row = session.get(SessionRow, info.id)
            values = _as_utc(info.model_dump())
            if row is None:
                session.add(SessionRow(key_id=key_id, instance=instance, **values))
            else:
                for name, value in values.items():
                    setattr(row, name, value)

    def close_orphaned_sessions(self, gone: Callable[[str], bool], reason: str, stale_before: datetime) -> int:
        """Close the open sessions whose instance is ``gone`` (its process died with their containers),
        and any open past its maximum lifetime before ``stale_before`` (whoever held it: an instance
        that cannot be checked from here, e.g. a replaced container, never closes it)."""
        with self._guard("close orphaned sessions"), self._session.begin() as session:
            rows = session.scalars(select(SessionRow).where(SessionRow.state == "open")).all()
            closed = 0
            for row in rows:
                if row.instance is not None and gone(row.instance):
                    row.state, row.closed_reason = "closed", reason
                elif _utc(row.expires_at) < stale_before:
                    row.state, row.closed_reason = "closed", "past its maximum lifetime; its server did not close it"
                else:
                    continue
                closed += 1
            return closed

    def get_session(self, session_id: str, key_id: str) -> SessionInfo | None:
        with self._guard("read a session"), self._session() as session:
            row = session.get(SessionRow, session_id)
        if row is None or row.key_id != key_id:
            return None
        return SessionInfo(
            id=row.id,
            language=row.language,
            policy=row.policy,
            state=row.state,
            created_at=_utc(row.created_at),
            last_used_at=_utc(row.last_used_at),
            expires_at=_utc(row.expires_at),
            idle_ttl_s=row.idle_ttl_s,
            executions=row.executions,
            closed_reason=row.closed_reason,
        )

    # ------------------------------------------------------------------ audit
    def audit(self, event_name: str, key_id: str | None = None, **detail: Any) -> None:
        """Append a security event (never a secret value)."""
        with self._guard("write the audit log"), self._session.begin() as session:
            session.add(AuditRow(at=now(), key_id=key_id, event=event_name, detail=detail))

    def audit_events(self, limit: int = 100) -> list[dict[str, Any]]:
        with self._guard("read the audit log"), self._session() as session:
            rows = session.scalars(select(AuditRow).order_by(AuditRow.id.desc()).limit(limit))
            return [{"at": _utc(r.at), "key_id": r.key_id, "event": r.event, "detail": r.detail} for r in rows]

    @staticmethod
    @contextlib.contextmanager
    def _guard(action: str) -> Iterator[None]:
        """Turn database errors into ``StoreUnavailable`` or ``StoreError`` naming the action (``engine.failure``)."""
        try:
            yield
        except SQLAlchemyError as exc:
            raise failure(action, exc) from exc


def _key_info(row: ApiKeyRow) -> ApiKeyInfo:
    return ApiKeyInfo(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        policy=row.policy,
        max_concurrency=row.max_concurrency,
        rate_per_min=row.rate_per_min,
        created_at=_utc(row.created_at),
        revoked_at=_utc(row.revoked_at),
        ops=row.ops,
    )


def _record(row: ExecutionRow) -> ExecutionRecord:
    return ExecutionRecord(
        id=row.id,
        state=row.state,
        status=Status(row.status) if row.status else None,
        exit_code=row.exit_code,
        signal=row.signal,
        stdout=row.stdout,
        stderr=row.stderr,
        stdout_truncated=row.stdout_truncated,
        stderr_truncated=row.stderr_truncated,
        stdout_bytes=row.stdout_bytes,
        stderr_bytes=row.stderr_bytes,
        wall_ms=row.wall_ms,
        cpu_ms=row.cpu_ms,
        peak_memory_bytes=row.peak_memory_bytes,
        message=row.message,
        findings=[Finding(**f) for f in row.findings or []],
        **(row.stages or {}),
        cached=bool((row.stages or {}).get("cached_from")),
        language=row.language,
        policy=row.policy,
        code_sha256=row.code_sha256,
        session_id=row.session_id,
        secrets=dict(row.secrets or {}),
        created_at=_utc(row.created_at),
        finished_at=_utc(row.finished_at),
    )


def _head(text: str, limit: int) -> str:
    data = text.encode()
    return text if len(data) <= limit else data[:limit].decode("utf-8", errors="ignore")
