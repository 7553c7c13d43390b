"""The tables, as SQLAlchemy Core metadata for queries.

The schema itself is created by the Alembic migrations in ``migrations/``; a test compares the two so
they cannot drift apart. Discord ids are strings: they overflow JavaScript numbers and the CLI has none.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    ColumnElement,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

ID = String(64)
SNOWFLAKE = String(32)
COLLECTION = String(255)

metadata = MetaData()


def as_utc(moment: datetime) -> datetime:
    """The same instant in UTC; a naive datetime is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that always comes back timezone-aware in UTC.

    SQLite has no time zones, so it stores naive UTC (which also keeps its text ordering right);
    PostgreSQL stores ``timestamptz`` and hands back the session's zone, which is converted here.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment = as_utc(value)
        return moment.replace(tzinfo=None) if dialect.name == "sqlite" else moment

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


def json_document() -> JSON:
    """JSON text on SQLite, JSONB on PostgreSQL."""
    return JSON().with_variant(JSONB(), "postgresql")


answers = Table(
    "answers",
    metadata,
    Column("answer_id", ID, nullable=False),
    Column("guild_id", SNOWFLAKE),
    Column("channel_id", SNOWFLAKE),
    Column("message_id", SNOWFLAKE),
    Column("collection", COLLECTION, nullable=False),
    Column("question", Text, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("payload", json_document(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("answer_id", name="pk_answers"),
    CheckConstraint("kind IN ('answer', 'summary')", name="ck_answers_kind"),
    Index("ix_answers_message_id", "message_id"),
    Index("ix_answers_created_at", "created_at"),
)

conversations = Table(
    "conversations",
    metadata,
    Column("conversation_id", ID, nullable=False),
    Column("guild_id", SNOWFLAKE),
    Column("starter_user_id", SNOWFLAKE),
    Column("collection", COLLECTION, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("conversation_id", name="pk_conversations"),
)

turns = Table(
    "turns",
    metadata,
    Column("conversation_id", ID, nullable=False),
    Column("seq", Integer, nullable=False, autoincrement=False),
    Column("question", Text, nullable=False),
    Column("answer_text", Text, nullable=False),
    Column("answer_id", ID, ForeignKey("answers.answer_id", ondelete="SET NULL", name="fk_turns_answer_id")),
    Column("created_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("conversation_id", "seq", name="pk_turns"),
    Index("ix_turns_created_at", "created_at"),
    Index("ix_turns_answer_id", "answer_id"),
)

votes = Table(
    "votes",
    metadata,
    Column("id", Integer, nullable=False, autoincrement=True),
    Column(
        "answer_id",
        ID,
        ForeignKey("answers.answer_id", ondelete="CASCADE", name="fk_votes_answer_id"),
        nullable=False,
    ),
    Column("user_hash", String(128), nullable=False),
    Column("vote", SmallInteger, nullable=False),
    Column("reason", Text),
    Column("message_id", SNOWFLAKE),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("id", name="pk_votes"),
    UniqueConstraint("answer_id", "user_hash", name="uq_votes_answer_user"),
    CheckConstraint("vote IN (-1, 1)", name="ck_votes_vote"),
    Index("ix_votes_updated_at", "updated_at"),
)

questions = Table(
    "questions",
    metadata,
    Column("id", Integer, nullable=False, autoincrement=True),
    Column("guild_id", SNOWFLAKE),
    Column("collection", COLLECTION, nullable=False),
    Column("question", Text, nullable=False),
    Column("question_key", Text, nullable=False),
    Column("grounded", Boolean, nullable=False),
    Column("latency_ms", Float, nullable=False),
    Column("answer_id", ID, ForeignKey("answers.answer_id", ondelete="SET NULL", name="fk_questions_answer_id")),
    Column("created_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("id", name="pk_questions"),
    Index("ix_questions_guild_created", "guild_id", "created_at"),
)

guild_settings = Table(
    "guild_settings",
    metadata,
    Column("guild_id", SNOWFLAKE, nullable=False),
    Column("settings", json_document(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("guild_id", name="pk_guild_settings"),
)

meta = Table(
    "meta",
    metadata,
    Column("key", String(200), nullable=False),
    Column("value", Text, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    PrimaryKeyConstraint("key", name="pk_meta"),
)


def guild_is(column: Column[str], guild_id: str | None) -> ColumnElement[bool]:
    """A guild filter where None means rows without a guild (direct messages and the CLI)."""
    return column.is_(None) if guild_id is None else column == guild_id
