"""Alembic migrations, applied at start-up from scripts shipped inside the package (no alembic.ini).

Several bots may start at once against one database, so the upgrade runs inside one transaction that
first takes a lock every migrator contends for: ``pg_advisory_xact_lock`` on PostgreSQL (released by the
commit or rollback, so a crashed migrator cannot leave it held), ``BEGIN EXCLUSIVE`` on SQLite. The
second process then finds the schema already at head and does nothing.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, text

from bot.state.engine import SQLITE_BEGIN
from bot.state.errors import StateError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Any fixed 64-bit number works; this one spells "STORYBOT". Advisory locks are per database.
MIGRATION_LOCK_KEY = int.from_bytes(b"STORYBOT", "big")


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config built in code; ``env.py`` migrates the connection passed here.

    Also the way to write a new revision: ``command.revision(alembic_config(conn), "message",
    autogenerate=True)`` with a connection to a database at head.
    """
    config = Config()
    # ConfigParser interpolation would treat a "%" in the install path as a placeholder.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    """The newest revision shipped with this version of the bot."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at (None before the first migration)."""
    return MigrationContext.configure(connection).get_current_revision()


def upgrade_schema(engine: Engine) -> None:
    """Bring the database to the newest revision, one process at a time."""
    with engine.connect() as connection:
        connection.execution_options(**{SQLITE_BEGIN: "EXCLUSIVE"})
        with connection.begin():
            _take_migration_lock(connection)
            _upgrade_to_head(connection)


def _upgrade_to_head(connection: Connection) -> None:
    """Apply pending revisions; a revision this code does not ship means a newer bot got there first
    (say, mid-way through a rolling deploy), which the operator must resolve, not this process."""
    try:
        command.upgrade(alembic_config(connection), "head")
    except CommandError as error:
        raise StateError(
            f"The database schema is at a revision this story-bot does not know ({error}); "
            "a newer version may have migrated it: upgrade this one"
        ) from None


def _take_migration_lock(connection: Connection) -> None:
    """On SQLite the BEGIN EXCLUSIVE that opened the transaction is the lock already."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
