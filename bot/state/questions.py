"""The question log behind the admin stats: every question, answered or refused, and how long it took.

Retention never purges it: it holds no answer text, and the stats should cover the whole history.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, func, select

from bot.state.records import QuestionStats, UnansweredQuestion
from bot.state.schema import guild_is, questions


def question_key(question: str) -> str:
    """What makes two phrasings "the same question" for top_unanswered: case and whitespace ignored."""
    return " ".join(question.split()).casefold()


def insert_question(
    connection: Connection,
    *,
    guild_id: str | None,
    collection: str,
    question: str,
    grounded: bool,
    latency_ms: float,
    answer_id: str | None,
    created_at: datetime,
) -> None:
    connection.execute(
        questions.insert().values(
            guild_id=guild_id,
            collection=collection,
            question=question,
            question_key=question_key(question),
            grounded=grounded,
            latency_ms=float(latency_ms),
            answer_id=answer_id,
            created_at=created_at,
        )
    )


def _in_scope(guild_id: str | None, since: datetime | None) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [guild_is(questions.c.guild_id, guild_id)]
    if since is not None:
        conditions.append(questions.c.created_at >= since)
    return conditions


def select_guild_ids(connection: Connection, since: datetime | None) -> list[str | None]:
    """Distinct guild ids of the questions asked since ``since``: guilds in id order, then None."""
    statement = select(questions.c.guild_id).distinct()
    if since is not None:
        statement = statement.where(questions.c.created_at >= since)
    found = [row.guild_id for row in connection.execute(statement)]
    return sorted((g for g in found if g is not None), key=lambda g: (len(g), g)) + ([None] if None in found else [])


def select_stats(connection: Connection, guild_id: str | None, since: datetime | None) -> QuestionStats:
    """Counts from the database; percentiles over the latencies, sorted by the database."""
    statement = select(questions.c.grounded, questions.c.latency_ms).where(*_in_scope(guild_id, since))
    rows = connection.execute(statement.order_by(questions.c.latency_ms)).all()
    latencies = [float(row.latency_ms) for row in rows]
    answered = sum(1 for row in rows if row.grounded)
    return QuestionStats(
        asked=len(rows),
        answered=answered,
        refused=len(rows) - answered,
        latency_p50_ms=nearest_rank(latencies, 50),
        latency_p95_ms=nearest_rank(latencies, 95),
    )


def nearest_rank(ordered: Sequence[float], percent: int) -> float | None:
    """The nearest-rank percentile of sorted values: the smallest value with at least ``percent``% of
    the values at or below it (always an observed latency, never an interpolation)."""
    if not ordered:
        return None
    if not 0 < percent <= 100:
        raise ValueError(f"percent must be in (0, 100], not {percent}")
    rank = -(-percent * len(ordered) // 100)  # ceil in integers, free of float rounding
    return ordered[rank - 1]


def select_top_unanswered(
    connection: Connection, guild_id: str | None, since: datetime | None, limit: int
) -> list[UnansweredQuestion]:
    """The refused questions asked most often, most recent first among equals; each is shown in one
    of its wordings, with its whitespace tidied."""
    times = func.count().label("times")
    last_asked = func.max(questions.c.created_at).label("last_asked")
    statement = (
        select(func.min(questions.c.question).label("question"), times, last_asked)
        .where(*_in_scope(guild_id, since), questions.c.grounded.is_(False))
        .group_by(questions.c.question_key)
        .order_by(times.desc(), last_asked.desc(), questions.c.question_key)
        .limit(limit)
    )
    return [
        UnansweredQuestion(question=" ".join(row.question.split()), count=int(row.times), last_asked=row.last_asked)
        for row in connection.execute(statement)
    ]
