"""Initial schema: answers, conversations and turns, votes, the question log, guild settings, meta.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Written out in full rather than imported from ``bot.state.schema``: a migration must keep creating
what it created on the day it shipped, whatever the metadata says later.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _json() -> sa.JSON:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    _create_answers()
    _create_conversations_and_turns()
    _create_votes()
    _create_questions()
    _create_settings_and_meta()


def _create_answers() -> None:
    op.create_table(
        "answers",
        sa.Column("answer_id", sa.String(64), nullable=False),
        sa.Column("guild_id", sa.String(32)),
        sa.Column("channel_id", sa.String(32)),
        sa.Column("message_id", sa.String(32)),
        sa.Column("collection", sa.String(255), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("payload", _json(), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("answer_id", name="pk_answers"),
        sa.CheckConstraint("kind IN ('answer', 'summary')", name="ck_answers_kind"),
    )
    op.create_index("ix_answers_message_id", "answers", ["message_id"])
    op.create_index("ix_answers_created_at", "answers", ["created_at"])


def _create_conversations_and_turns() -> None:
    op.create_table(
        "conversations",
        sa.Column("conversation_id", sa.String(64), nullable=False),
        sa.Column("guild_id", sa.String(32)),
        sa.Column("starter_user_id", sa.String(32)),
        sa.Column("collection", sa.String(255), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("conversation_id", name="pk_conversations"),
    )
    op.create_table(
        "turns",
        sa.Column("conversation_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("answer_text", sa.Text(), nullable=False),
        sa.Column("answer_id", sa.String(64)),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("conversation_id", "seq", name="pk_turns"),
        sa.ForeignKeyConstraint(["answer_id"], ["answers.answer_id"], ondelete="SET NULL", name="fk_turns_answer_id"),
    )
    op.create_index("ix_turns_created_at", "turns", ["created_at"])


def _create_votes() -> None:
    op.create_table(
        "votes",
        sa.Column("id", sa.Integer(), nullable=False, autoincrement=True),
        sa.Column("answer_id", sa.String(64), nullable=False),
        sa.Column("user_hash", sa.String(128), nullable=False),
        sa.Column("vote", sa.SmallInteger(), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("message_id", sa.String(32)),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.Column("updated_at", _timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_votes"),
        sa.UniqueConstraint("answer_id", "user_hash", name="uq_votes_answer_user"),
        sa.CheckConstraint("vote IN (-1, 1)", name="ck_votes_vote"),
        sa.ForeignKeyConstraint(["answer_id"], ["answers.answer_id"], ondelete="CASCADE", name="fk_votes_answer_id"),
    )
    op.create_index("ix_votes_updated_at", "votes", ["updated_at"])


def _create_questions() -> None:
    op.create_table(
        "questions",
        sa.Column("id", sa.Integer(), nullable=False, autoincrement=True),
        sa.Column("guild_id", sa.String(32)),
        sa.Column("collection", sa.String(255), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("question_key", sa.Text(), nullable=False),
        sa.Column("grounded", sa.Boolean(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("answer_id", sa.String(64)),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_questions"),
        sa.ForeignKeyConstraint(
            ["answer_id"], ["answers.answer_id"], ondelete="SET NULL", name="fk_questions_answer_id"
        ),
    )
    op.create_index("ix_questions_guild_created", "questions", ["guild_id", "created_at"])


def _create_settings_and_meta() -> None:
    op.create_table(
        "guild_settings",
        sa.Column("guild_id", sa.String(32), nullable=False),
        sa.Column("settings", _json(), nullable=False),
        sa.Column("updated_at", _timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("guild_id", name="pk_guild_settings"),
    )
    op.create_table(
        "meta",
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", _timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_meta"),
    )


def downgrade() -> None:
    for table in ("meta", "guild_settings", "questions", "votes", "turns", "conversations", "answers"):
        op.drop_table(table)
