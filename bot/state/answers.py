"""Saved answers: what a message showed, so its buttons (sources, votes) work after a restart."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select, update

from bot.state.records import ANSWER_KINDS, AnswerKind, SavedAnswer
from bot.state.schema import answers


def insert_answer(connection: Connection, answer: SavedAnswer) -> None:
    """Store a new answer; the caller chose its id."""
    if answer.kind not in ANSWER_KINDS:
        raise ValueError(f"Answer kind must be one of {ANSWER_KINDS}, not {answer.kind!r}")
    if not isinstance(answer.payload, dict):
        raise TypeError("An answer's payload must be a JSON-able dict")
    connection.execute(answers.insert().values(**asdict(answer)))


def set_message(connection: Connection, answer_id: str, message_id: str) -> bool:
    """Record the message that shows an answer (known only after it was sent); False if no such answer."""
    statement = update(answers).where(answers.c.answer_id == answer_id).values(message_id=message_id)
    return connection.execute(statement).rowcount == 1


def select_answer(connection: Connection, answer_id: str) -> SavedAnswer | None:
    row = connection.execute(select(answers).where(answers.c.answer_id == answer_id)).first()
    return None if row is None else answer_from_row(row)


def select_answer_for_message(connection: Connection, message_id: str) -> SavedAnswer | None:
    """The answer a message shows (the newest, should a message ever have been re-attached)."""
    statement = (
        select(answers)
        .where(answers.c.message_id == message_id)
        .order_by(answers.c.created_at.desc(), answers.c.answer_id)
        .limit(1)
    )
    row = connection.execute(statement).first()
    return None if row is None else answer_from_row(row)


def answer_exists(connection: Connection, answer_id: str) -> bool:
    return connection.execute(select(answers.c.answer_id).where(answers.c.answer_id == answer_id)).first() is not None


def answer_from_row(row: Row[Any]) -> SavedAnswer:
    kind: AnswerKind = row.kind
    created_at: datetime = row.created_at
    return SavedAnswer(
        answer_id=row.answer_id,
        guild_id=row.guild_id,
        channel_id=row.channel_id,
        message_id=row.message_id,
        collection=row.collection,
        question=row.question,
        kind=kind,
        payload=dict(row.payload),
        created_at=created_at,
    )
