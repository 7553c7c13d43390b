"""Feedback for a regression set: every vote with the answer it judged, and every refused question."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, Row, Select, select

from bot.state.records import FeedbackRow
from bot.state.schema import answers, questions, votes

# Rows fetched per round trip while streaming: bounded memory however large the history is.
BATCH_ROWS = 500


def iter_votes(connection: Connection, collection: str | None) -> Iterator[FeedbackRow]:
    """Votes joined to their answers (question, payload with citations), oldest first."""
    statement = select(
        answers.c.collection,
        answers.c.question,
        answers.c.guild_id,
        answers.c.answer_id,
        answers.c.kind,
        answers.c.payload,
        votes.c.vote,
        votes.c.reason,
        votes.c.message_id,
        votes.c.updated_at,
    ).select_from(votes.join(answers, votes.c.answer_id == answers.c.answer_id))
    if collection is not None:
        statement = statement.where(answers.c.collection == collection)
    for row in _stream(connection, statement.order_by(votes.c.updated_at, votes.c.id)):
        yield _vote_row(row)


def _vote_row(row: Row[Any]) -> FeedbackRow:
    return FeedbackRow(
        kind="vote",
        collection=row.collection,
        question=row.question,
        guild_id=row.guild_id,
        created_at=row.updated_at,
        answer_id=row.answer_id,
        answer_kind=row.kind,
        payload=dict(row.payload),
        vote=int(row.vote),
        reason=row.reason,
        message_id=row.message_id,
    )


def iter_refused(connection: Connection, collection: str | None) -> Iterator[FeedbackRow]:
    """Questions the bot refused (no grounded answer), oldest first; repeats are kept, one per ask."""
    statement = select(questions.c.collection, questions.c.question, questions.c.guild_id, questions.c.created_at)
    statement = statement.where(questions.c.grounded.is_(False))
    if collection is not None:
        statement = statement.where(questions.c.collection == collection)
    for row in _stream(connection, statement.order_by(questions.c.created_at, questions.c.id)):
        yield FeedbackRow(
            kind="refused",
            collection=row.collection,
            question=row.question,
            guild_id=row.guild_id,
            created_at=row.created_at,
        )


def _stream(connection: Connection, statement: Select[Any]) -> Iterator[Row[Any]]:
    yield from connection.execute(statement.execution_options(yield_per=BATCH_ROWS))
