"""From a configured URL to a SQLAlchemy engine: SQLite by default, PostgreSQL for a fleet of bots.

``postgresql://user:password@host:5432/dbname`` is accepted exactly as operators write it and mapped to
the psycopg (v3) driver. Errors become one-line ``StateError`` messages with the password masked.
"""

from __future__ import annotations

import importlib
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, OperationalError

from bot.state.errors import StateError

SQLITE_FILENAME = "storybot.sqlite3"
# Long enough for another process to finish a migration or a burst of writes.
SQLITE_BUSY_TIMEOUT_MS = 30_000
POSTGRES_CONNECT_TIMEOUT_S = 10
POSTGRES_DRIVER = "postgresql+psycopg"
POSTGRES_INSTALL_HINT = "pip install -e '.[postgres]'"
URL_EXAMPLE = "postgresql://user:password@host:5432/dbname"

# Execution option naming the SQLite BEGIN mode of a connection's transactions.
SQLITE_BEGIN = "storybot_sqlite_begin"
SQLITE_BEGIN_MODES = frozenset({"DEFERRED", "IMMEDIATE", "EXCLUSIVE"})


def resolve_url(url: str | None, data_dir: Path) -> URL:
    """The engine URL: a SQLite file in ``data_dir`` when ``url`` is empty, else the given database."""
    if url is None or not url.strip():
        return URL.create("sqlite", database=str(data_dir / SQLITE_FILENAME))
    try:
        parsed = make_url(url.strip())
    except ArgumentError:
        raise StateError(f"The database URL is not a URL; expected e.g. {URL_EXAMPLE}") from None
    return _with_driver(parsed)


def _with_driver(url: URL) -> URL:
    """Plain ``postgresql://`` (or Heroku-style ``postgres://``) means psycopg v3, not SQLAlchemy's psycopg2."""
    if url.drivername in ("postgresql", "postgres"):
        return url.set(drivername=POSTGRES_DRIVER)
    if url.get_backend_name() in ("postgresql", "sqlite"):
        return url
    raise StateError(f"Unsupported database {url.get_backend_name()!r}: use SQLite or {URL_EXAMPLE}")


def masked_url(url: URL) -> str:
    """The URL for messages and logs, with the password replaced by ***."""
    return url.render_as_string(hide_password=True)


def create_state_engine(url: URL) -> Engine:
    """An engine whose connections are ready for the state layer (SQLite pragmas, psycopg timeouts)."""
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    return _postgres_engine(url)


def _sqlite_engine(url: URL) -> Engine:
    if url.database and url.database != ":memory:":
        _make_parent_dir(Path(url.database))
    engine = create_engine(url)
    event.listen(engine, "connect", _configure_sqlite_connection)
    event.listen(engine, "begin", _begin_sqlite_transaction)
    return engine


def _make_parent_dir(database: Path) -> None:
    try:
        database.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StateError(f"Cannot create the data directory {database.parent}: {error.strerror}") from None


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers and one writer share the file across processes; the busy timeout waits for the
    writer instead of failing; foreign keys make deleting an answer delete its votes."""
    # Let the begin listener below issue BEGIN, rather than the sqlite3 module's implicit, late one.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        _switch_to_wal(cursor)
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _switch_to_wal(cursor: Any) -> None:
    """``PRAGMA journal_mode = WAL`` on a new file needs it to itself, and SQLite reports "database is
    locked" at once, without the busy timeout, while another process is creating or converting
    it (two bot processes starting together); so wait for that process here, as the timeout
    would."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _begin_sqlite_transaction(connection: Connection) -> None:
    """Writes start with BEGIN IMMEDIATE so two writers queue on the busy timeout instead of deadlocking
    when both upgrade from a read lock; reads ask for DEFERRED, migrations for EXCLUSIVE."""
    mode = connection.get_execution_options().get(SQLITE_BEGIN, "IMMEDIATE")
    if mode not in SQLITE_BEGIN_MODES:
        raise ValueError(f"Unknown SQLite BEGIN mode {mode!r}")
    connection.exec_driver_sql(f"BEGIN {mode}")


def _postgres_engine(url: URL) -> Engine:
    if url.drivername == POSTGRES_DRIVER:
        _require_psycopg()
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = POSTGRES_CONNECT_TIMEOUT_S
    # Pre-ping: a fleet's database restarts or fails over; a dead pooled connection is replaced, not used.
    return create_engine(url, connect_args=connect_args, pool_pre_ping=True)


def _require_psycopg() -> None:
    try:
        importlib.import_module("psycopg")
    except ImportError:
        raise StateError(f"PostgreSQL needs the psycopg driver: {POSTGRES_INSTALL_HINT}") from None


@contextmanager
def database_errors(url: URL, doing: str) -> Iterator[None]:
    """Turn a driver failure (refused, bad password, locked file) into a one-line StateError."""
    try:
        yield
    except DBAPIError as error:
        if not _is_connection_problem(error):
            raise
        raise StateError(f"Cannot {doing} the database {masked_url(url)}: {_reason(error, url)}") from None


def _is_connection_problem(error: DBAPIError) -> bool:
    """Operational failures (unreachable, auth, busy) are the operator's to fix; constraint and
    programming errors are bugs and keep their full traceback."""
    return error.connection_invalidated or isinstance(error, OperationalError | InterfaceError)


def _reason(error: DBAPIError, url: URL) -> str:
    """The driver's own message, on one line and with the password scrubbed in case it echoes it."""
    reason = " ".join(str(error.orig).split()) or type(error.orig).__name__
    if url.password:
        reason = reason.replace(str(url.password), "***")
    return reason
