"""Alembic environment: migrates the connection that ``bot.state.migrate`` opened and locked."""

from __future__ import annotations

from alembic import context

from bot.state.schema import metadata


def run_migrations() -> None:
    """Run the pending revisions on the caller's connection, inside the caller's transaction."""
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("Run story-bot migrations through bot.state.migrate, which supplies a connection")
    # Batch mode lets future ALTERs work on SQLite, which rebuilds a table to change it.
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
