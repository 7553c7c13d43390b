"""Votes: one per person per answer, changeable, each keeping the message it was cast on."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, case, func, select, update
from sqlalchemy.sql.base import ReadOnlyColumnCollection

from bot.state.records import Vote, VoteCounts
from bot.state.schema import answers, guild_is, votes
from bot.state.upsert import insert_or_update

VOTE_VALUES = (1, -1)
MAX_REASON_CHARS = 500


def upsert_vote(
    connection: Connection, answer_id: str, user_hash: str, vote: int, message_id: str | None, now: datetime
) -> Vote:
    """Record or change a person's vote; changing its direction drops the reason given for the old one."""
    if vote not in VOTE_VALUES:
        raise ValueError(f"A vote is +1 or -1, not {vote!r}")
    values = {
        "answer_id": answer_id,
        "user_hash": user_hash,
        "vote": vote,
        "message_id": message_id,
        "created_at": now,
        "updated_at": now,
    }
    insert_or_update(connection, votes, values, key=["answer_id", "user_hash"], update=_changed_vote)
    stored = select_vote(connection, answer_id, user_hash)
    assert stored is not None  # just written
    return stored


def _changed_vote(new: ReadOnlyColumnCollection[str, Any]) -> dict[str, Any]:
    return {
        "vote": new.vote,
        "message_id": new.message_id,
        "updated_at": new.updated_at,
        "reason": case((votes.c.vote == new.vote, votes.c.reason), else_=None),
    }


def update_reason(connection: Connection, answer_id: str, user_hash: str, reason: str | None, now: datetime) -> bool:
    """Attach the one-line reason from the 👎 modal; False if this person has no vote on the answer."""
    statement = (
        update(votes)
        .where(votes.c.answer_id == answer_id, votes.c.user_hash == user_hash)
        .values(reason=one_line(reason), updated_at=now)
    )
    return connection.execute(statement).rowcount == 1


def one_line(reason: str | None) -> str | None:
    """Collapse a modal's text to one trimmed line of bounded length; blank means no reason."""
    if reason is None:
        return None
    text = " ".join(reason.split())[:MAX_REASON_CHARS]
    return text or None


def select_vote(connection: Connection, answer_id: str, user_hash: str) -> Vote | None:
    statement = select(votes).where(votes.c.answer_id == answer_id, votes.c.user_hash == user_hash)
    row = connection.execute(statement).first()
    return None if row is None else vote_from_row(row)


def select_votes_for(connection: Connection, answer_id: str) -> list[Vote]:
    statement = select(votes).where(votes.c.answer_id == answer_id).order_by(votes.c.created_at, votes.c.id)
    return [vote_from_row(row) for row in connection.execute(statement)]


def count_votes(connection: Connection, guild_id: str | None, since: datetime | None) -> VoteCounts:
    """Current votes on the guild's answers, set (cast or last changed) at or after ``since``."""
    up = func.coalesce(func.sum(case((votes.c.vote > 0, 1), else_=0)), 0)
    down = func.coalesce(func.sum(case((votes.c.vote < 0, 1), else_=0)), 0)
    statement = (
        select(up, down)
        .select_from(votes.join(answers, votes.c.answer_id == answers.c.answer_id))
        .where(guild_is(answers.c.guild_id, guild_id))
    )
    if since is not None:
        statement = statement.where(votes.c.updated_at >= since)
    row = connection.execute(statement).one()
    return VoteCounts(up=int(row[0]), down=int(row[1]))


def vote_from_row(row: Row[Any]) -> Vote:
    return Vote(
        answer_id=row.answer_id,
        user_hash=row.user_hash,
        vote=int(row.vote),
        reason=row.reason,
        message_id=row.message_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
