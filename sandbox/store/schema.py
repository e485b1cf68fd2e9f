"""The store's schema, kept by Alembic: every ``Store`` brings its database to the newest revision.

``upgrade`` runs in one transaction on one connection: on PostgreSQL it first takes a
transaction-level advisory lock, so replicas starting together against one database migrate it
one after the other (the later ones find it current and do nothing), and a failed revision leaves
nothing half done (PostgreSQL's DDL is transactional). A database made before Alembic is brought
to the baseline by ``legacy`` and stamped. A database at a revision this code does not know
(made by a newer version) is refused: running old code on a newer schema could lose data.
``sandbox db upgrade`` calls the same function, so operators can migrate before rolling replicas.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy import Connection, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from sandbox.errors import StoreError
from sandbox.store.engine import failure, make_engine, redact_url
from sandbox.store.legacy import bring_to_baseline, legacy_version

log = logging.getLogger(__name__)

SCRIPTS = Path(__file__).parent / "migrations"
#: The revision equal to the hand-written v6 (``legacy``).
BASELINE = "0001"
#: ``pg_advisory_xact_lock``'s key for the schema upgrade: any constant of this service's own.
LOCK_KEY = 0x5A_6E_D8_0C_0001


def same_default(
    _context: object,
    _inspected: object,
    _column: object,
    inspected_default: str | None,
    _metadata_default: object,
    rendered_default: str | None,
) -> bool | None:
    """Alembic's ``compare_server_default`` hook: SQLite keeps a boolean default as written, so a column
    added by the hand-written v6 step says ``FALSE`` where a created one says ``0``; both are false.
    False: the same; None: Alembic compares as usual."""

    def plain(value: str | None) -> str | None:
        if value is None:
            return None
        word = value.strip().strip("()'\"").lower()
        return {"false": "0", "true": "1"}.get(word, word)

    if inspected_default is not None and plain(inspected_default) == plain(rendered_default):
        return False
    return None


def config(connection: Connection | None = None) -> Config:
    """Alembic's configuration, built here (no alembic.ini): the scripts shipped in the package."""
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPTS))
    if connection is not None:
        cfg.attributes["connection"] = connection  # env.py runs the revisions on it
    return cfg


def head() -> str:
    """The newest revision this code knows."""
    found = ScriptDirectory.from_config(config()).get_current_head()
    assert found is not None, "the store has no schema revisions"
    return found


def current(connection: Connection) -> str | None:
    """The database's revision (None: not under Alembic yet)."""
    return MigrationContext.configure(connection).get_current_revision()


def schema_revisions(url: str) -> tuple[str | None, str]:
    """The revision of the database at ``url`` (None: empty, or made before Alembic) and this code's newest;
    nothing is changed (``sandbox db current``)."""
    try:
        engine = make_engine(url)
    except (ImportError, ValueError, SQLAlchemyError) as exc:
        raise StoreError(f"cannot open the database {redact_url(url)}: {type(exc).__name__}") from exc
    try:
        with engine.connect() as connection:
            return current(connection), head()
    except SQLAlchemyError as exc:
        raise failure("read the schema revision", exc) from exc
    finally:
        engine.dispose()


def upgrade(engine: Engine) -> str:
    """Bring the database to ``head()`` (see the module docstring); the revision it is at afterwards."""
    with engine.connect() as connection, connection.begin():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        cfg = config(connection)
        at = current(connection)
        if at is not None:
            _check_known(cfg, at)
        else:
            version = legacy_version(connection)
            if version is not None:
                log.info("bringing a database of schema v%d to the Alembic baseline", version)
                bring_to_baseline(connection, version)
                command.stamp(cfg, BASELINE)
        command.upgrade(cfg, "head")
        now = current(connection)
    assert now is not None
    return now


def _check_known(cfg: Config, revision: str) -> None:
    try:
        ScriptDirectory.from_config(cfg).get_revision(revision)
    except (RevisionError, CommandError):
        raise StoreError(
            f"the database's schema revision {revision} is newer than this service knows (its newest is "
            f"{head()}): upgrade the service, or restore a backup"
        ) from None
