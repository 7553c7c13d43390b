"""INSERT … ON CONFLICT, which SQLite and PostgreSQL spell the same way but SQLAlchemy builds per dialect."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.base import ReadOnlyColumnCollection


def dialect_insert(connection: Connection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """The insert construct that knows ON CONFLICT for this connection's database."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def insert_or_ignore(connection: Connection, table: Table, values: Mapping[str, Any], key: Sequence[str]) -> bool:
    """Insert a row unless one with the same key exists; True if it was inserted."""
    statement = dialect_insert(connection, table).values(**values).on_conflict_do_nothing(index_elements=list(key))
    return connection.execute(statement).rowcount == 1


def insert_or_update(
    connection: Connection,
    table: Table,
    values: Mapping[str, Any],
    key: Sequence[str],
    update: Callable[[ReadOnlyColumnCollection[str, Any]], Mapping[str, Any]] | None = None,
) -> None:
    """Insert a row, or update the existing one with the same key.

    ``update`` builds the SET clause from ``excluded`` (the row that was not inserted); by default every
    non-key column takes the new value.
    """
    insert = dialect_insert(connection, table).values(**values)
    if update is None:
        changes: Mapping[str, Any] = {name: insert.excluded[name] for name in values if name not in key}
    else:
        changes = update(insert.excluded)
    connection.execute(insert.on_conflict_do_update(index_elements=list(key), set_=dict(changes)))
