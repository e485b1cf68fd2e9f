"""The store's SQLAlchemy engine, and what a database error means to a caller.

A server (PostgreSQL) is reached over the network and can be down, restarting or
out of connections; a request must then hear so within seconds (``StoreUnavailable``:
503 with Retry-After), not hang on a connect or a pool wait, and not be told "internal
error". So the engine pings a pooled connection before using it, gives up a connect
after ``CONNECT_TIMEOUT_S`` and a wait for a pooled connection after ``POOL_TIMEOUT_S``,
and ``failure`` tells an unreachable database (retry later) from a failing statement
(a bug or bad data: ``StoreError``, 500).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from sandbox.errors import SandboxError, StoreError, StoreUnavailable

log = logging.getLogger(__name__)

#: Seconds a new connection to a database server may take (libpq's ``connect_timeout``).
CONNECT_TIMEOUT_S = 3
#: Seconds a request waits for a pooled connection when every one is in use.
POOL_TIMEOUT_S = 5.0
#: Connections kept per process, and how many more may be opened under load.
POOL_SIZE, MAX_OVERFLOW = 5, 10
UNAVAILABLE_MESSAGE = "the database is unreachable; retry shortly"
#: The errors of a database that cannot be reached or answered: down, restarting, refusing, pool exhausted.
UNREACHABLE = (OperationalError, InterfaceError, DisconnectionError, PoolTimeout)
#: SQLite reports a bad statement (no such table or column) as an ``OperationalError`` too; these are
#: the words of a file that cannot take a statement right now: a 503 (retry later), not a 500. A full
#: disk and a read-only file are the operator's to fix, and the server goes on meanwhile.
SQLITE_UNAVAILABLE = ("locked", "busy", "unable to open", "disk i/o", "disk is full", "readonly database")


def make_engine(url: str) -> Engine:
    """The engine for ``url``: SQLite with WAL and a busy timeout; a server with pings and bounded waits."""
    if url.startswith("sqlite"):
        # A SQLite file's connections cannot go stale, and pinging it would cost a round trip per write.
        engine = create_engine(url)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    connect_args: dict[str, Any] = {}
    if url.startswith("postgresql"):
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
    return create_engine(
        url,
        pool_pre_ping=True,  # a server's connections go stale (restarts, idle timeouts)
        pool_timeout=POOL_TIMEOUT_S,
        pool_size=POOL_SIZE,
        max_overflow=MAX_OVERFLOW,
        connect_args=connect_args,
    )


def unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database could not be reached (rather than that a statement failed)."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, OperationalError) and type(exc.orig).__module__.startswith("sqlite3"):
        return any(marker in str(exc.orig).lower() for marker in SQLITE_UNAVAILABLE)
    return isinstance(exc, UNREACHABLE)


def failure(action: str, exc: SQLAlchemyError) -> SandboxError:
    """The service's error for a database error while doing ``action``: ``StoreUnavailable`` when the
    database is unreachable (logged here, without the URL), else ``StoreError`` naming the action."""
    if unreachable(exc):
        log.warning("could not %s: the database is unreachable (%s)", action, type(exc).__name__)
        return StoreUnavailable(UNAVAILABLE_MESSAGE)
    return StoreError(f"could not {action}: {type(exc).__name__}")


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def redact_url(url: str) -> str:
    """The URL without a password."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
    return url
