"""Retention: answers, their votes and conversation turns are deleted after a number of days.

Two things outlive it. The question log (it holds no answers, and the stats should span the bot's
history); its link to a purged answer is cleared. And answers someone voted on, with their votes:
a 👍 or 👎 is feedback given on purpose for the maintainers, and ``storybot feedback export`` turns
it into a regression set, which needs the question and the answer it judged long after the
buttons have expired. Summaries are not questions, so votes on them go with them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, Connection, Table, delete, exists, select, update

from bot.state.records import PurgeCounts
from bot.state.schema import answers, as_utc, conversations, questions, turns, votes


def retention_cutoff(retention_days: float, now: datetime | None = None) -> datetime:
    """The instant before which rows are expired."""
    if retention_days < 0:
        raise ValueError(f"retention_days must not be negative, not {retention_days}")
    return as_utc(now or datetime.now(UTC)) - timedelta(days=retention_days)


def is_expired(created_at: datetime, retention_days: float | None, now: datetime | None = None) -> bool:
    """Whether something created at ``created_at`` is past retention (None: kept forever).

    A naive ``created_at`` is taken to be UTC, like every timestamp this layer stores.
    """
    if retention_days is None:
        return False
    return as_utc(created_at) < retention_cutoff(retention_days, now)


def is_expired_answer(cutoff: datetime) -> ColumnElement[bool]:
    """Which answers to delete: created before ``cutoff`` and not kept as feedback."""
    voted = exists().where(votes.c.answer_id == answers.c.answer_id).correlate_except(votes)
    kept_as_feedback = (answers.c.kind == "answer") & voted
    return (answers.c.created_at < cutoff) & ~kept_as_feedback


def purge_before(connection: Connection, cutoff: datetime) -> PurgeCounts:
    """Delete what was created before ``cutoff``, children first so no foreign key is left dangling."""
    expired = is_expired_answer(cutoff)
    old_answers = select(answers.c.answer_id).where(expired)
    vote_count = _delete(connection, votes, votes.c.answer_id.in_(old_answers))
    connection.execute(update(turns).where(turns.c.answer_id.in_(old_answers)).values(answer_id=None))
    connection.execute(update(questions).where(questions.c.answer_id.in_(old_answers)).values(answer_id=None))
    turn_count = _delete(connection, turns, turns.c.created_at < cutoff)
    answer_count = _delete(connection, answers, expired)
    has_turns = exists().where(turns.c.conversation_id == conversations.c.conversation_id)
    conversation_count = _delete(connection, conversations, (conversations.c.created_at < cutoff) & ~has_turns)
    return PurgeCounts(answers=answer_count, votes=vote_count, turns=turn_count, conversations=conversation_count)


def _delete(connection: Connection, table: Table, condition: ColumnElement[bool]) -> int:
    return connection.execute(delete(table).where(condition)).rowcount
