"""Conversation memory: who started a thread, and its numbered question/answer turns."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, func, select, text

from bot.state.records import Conversation, Turn
from bot.state.schema import conversations, turns
from bot.state.upsert import insert_or_ignore


def insert_conversation(connection: Connection, conversation: Conversation) -> Conversation:
    """Record who started a conversation; if it was recorded already, the first record stands."""
    values = {
        "conversation_id": conversation.conversation_id,
        "guild_id": conversation.guild_id,
        "starter_user_id": conversation.starter_user_id,
        "collection": conversation.collection,
        "created_at": conversation.created_at,
    }
    insert_or_ignore(connection, conversations, values, key=["conversation_id"])
    stored = select_conversation(connection, conversation.conversation_id)
    assert stored is not None  # inserted above or already there
    return stored


def select_conversation(connection: Connection, conversation_id: str) -> Conversation | None:
    statement = select(conversations).where(conversations.c.conversation_id == conversation_id)
    row = connection.execute(statement).first()
    if row is None:
        return None
    return Conversation(
        conversation_id=row.conversation_id,
        guild_id=row.guild_id,
        starter_user_id=row.starter_user_id,
        collection=row.collection,
        created_at=row.created_at,
    )


def insert_turn(
    connection: Connection,
    conversation_id: str,
    question: str,
    answer_text: str,
    answer_id: str | None,
    created_at: datetime,
) -> Turn:
    """Append a turn numbered after the conversation's last one."""
    _lock_conversation(connection, conversation_id)
    last = connection.execute(
        select(func.max(turns.c.seq)).where(turns.c.conversation_id == conversation_id)
    ).scalar_one()
    turn = Turn(conversation_id, (last or 0) + 1, question, answer_text, answer_id, created_at)
    connection.execute(
        turns.insert().values(
            conversation_id=turn.conversation_id,
            seq=turn.seq,
            question=turn.question,
            answer_text=turn.answer_text,
            answer_id=turn.answer_id,
            created_at=turn.created_at,
        )
    )
    return turn


def _lock_conversation(connection: Connection, conversation_id: str) -> None:
    """Serialize writers of one conversation so two cannot pick the same turn number.

    SQLite's write transaction (BEGIN IMMEDIATE) excludes other writers already; PostgreSQL takes a
    transaction-scoped advisory lock keyed by the conversation (there may be no row to lock).
    """
    if connection.dialect.name == "postgresql":
        digest = hashlib.blake2b(f"turns:{conversation_id}".encode(), digest_size=8).digest()
        key = int.from_bytes(digest, "big", signed=True)
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def select_recent_turns(
    connection: Connection, conversation_id: str, limit: int, through_seq: int | None = None
) -> list[Turn]:
    """The last ``limit`` turns (up to turn ``through_seq`` when given), oldest first (the order a
    prompt wants them in)."""
    if limit <= 0:
        return []
    statement = select(turns).where(turns.c.conversation_id == conversation_id)
    if through_seq is not None:
        statement = statement.where(turns.c.seq <= through_seq)
    rows = connection.execute(statement.order_by(turns.c.seq.desc()).limit(limit)).all()
    return [_turn_from_row(row) for row in reversed(rows)]


def select_turn_for_answer(connection: Connection, answer_id: str) -> Turn | None:
    """The turn that gave an answer (the earliest, should it appear in two), or None."""
    statement = select(turns).where(turns.c.answer_id == answer_id).order_by(turns.c.created_at, turns.c.seq).limit(1)
    row = connection.execute(statement).first()
    return None if row is None else _turn_from_row(row)


def _turn_from_row(row: Row[Any]) -> Turn:
    return Turn(
        conversation_id=row.conversation_id,
        seq=row.seq,
        question=row.question,
        answer_text=row.answer_text,
        answer_id=row.answer_id,
        created_at=row.created_at,
    )
