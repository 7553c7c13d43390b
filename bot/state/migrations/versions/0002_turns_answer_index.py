"""Index turns by answer: a Discord reply to an answer looks up the conversation turn that gave it.

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-01
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_turns_answer_id", "turns", ["answer_id"])


def downgrade() -> None:
    op.drop_index("ix_turns_answer_id", table_name="turns")
