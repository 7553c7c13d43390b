"""Feedback as a regression set: the JSON lines ``storybot feedback export`` writes and ``storybot
eval`` reads.

Each line is an evaluation row, ``{id, question, answers[], unanswerable}``, with ``review`` and
where it came from:

* an answer with only 👍 votes is a test: ``answers`` holds its short answer, or else the text of
  its first quote, which ``storybot eval`` looks for in the new answer; a 👍 on "the story doesn't
  say" is an ``unanswerable`` test;
* an answer with a 👎 (``origin`` "downvoted", or "mixed" beside 👍) and a question the bot refused
  (``origin`` "refused", ``unanswerable`` true) are flagged ``"review": true``, with the reasons
  given in the 👎 modal and what the bot answered. ``storybot eval`` counts them but does not score
  them until someone has checked them: fill in ``answers`` (or keep ``unanswerable``) and delete
  ``review``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TextIO

from bot.state import FeedbackRow, question_key

Origin = Literal["upvoted", "downvoted", "mixed", "refused"]


@dataclass(frozen=True, slots=True)
class ExportRow:
    """One line of the exported set; ``to_dict`` is its JSON."""

    id: str
    question: str
    answers: tuple[str, ...]
    unanswerable: bool
    review: bool
    origin: Origin
    collection: str
    guild_id: str | None
    last_seen: datetime
    votes_up: int = 0
    votes_down: int = 0
    reasons: tuple[str, ...] = ()
    answer_given: str | None = None
    asked: int = 0

    def to_dict(self) -> dict[str, Any]:
        row: dict[str, Any] = {
            "id": self.id,
            "question": self.question,
            "answers": list(self.answers),
            "unanswerable": self.unanswerable,
            "review": self.review,
            "origin": self.origin,
            "collection": self.collection,
            "guild_id": self.guild_id,
            "last_seen": self.last_seen.isoformat(),
        }
        if self.origin == "refused":
            return row | {"asked": self.asked}
        return row | {
            "votes": {"up": self.votes_up, "down": self.votes_down},
            "reasons": list(self.reasons),
            "answer_given": self.answer_given,
        }


@dataclass(slots=True)
class _Judged:
    """The votes on one answer, gathered while the feedback streams by."""

    first: FeedbackRow
    up: int = 0
    down: int = 0
    reasons: list[str] = field(default_factory=list)
    last_seen: datetime | None = None

    def add(self, row: FeedbackRow) -> None:
        if (row.vote or 0) > 0:
            self.up += 1
        else:
            self.down += 1
            if row.reason:
                self.reasons.append(row.reason)
        self.last_seen = max(self.last_seen or row.created_at, row.created_at)


@dataclass(slots=True)
class _Refused:
    """A refused question and how often it (or a case/whitespace variant) was asked."""

    first: FeedbackRow
    asked: int = 0
    last_seen: datetime | None = None

    def add(self, row: FeedbackRow) -> None:
        self.asked += 1
        self.last_seen = max(self.last_seen or row.created_at, row.created_at)


def feedback_rows(feedback: Iterable[FeedbackRow]) -> list[ExportRow]:
    """Votes grouped per answer, then refused questions grouped per wording; a refused question
    that also has a voted answer is left to that row, which says more. Summaries are skipped:
    they answer no question."""
    judged: dict[str, _Judged] = {}
    refused: dict[tuple[str, str], _Refused] = {}
    for row in feedback:
        if row.kind == "vote" and row.answer_id is not None and row.answer_kind == "answer":
            judged.setdefault(row.answer_id, _Judged(row)).add(row)
        elif row.kind == "refused":
            refused.setdefault((row.collection, question_key(row.question)), _Refused(row)).add(row)
    voted = [_voted_row(answer_id, votes) for answer_id, votes in judged.items()]
    covered = {(row.collection, question_key(row.question)) for row in voted}
    return voted + [_refused_row(entry) for key, entry in refused.items() if key not in covered]


def accepted_answer(payload: dict[str, Any]) -> str | None:
    """What ``storybot eval`` should find in a new answer: the short answer if there was one, else
    the first quote (the answer text always contains it)."""
    short = payload.get("short_answer") or {}
    if str(short.get("text") or "").strip():
        return str(short["text"])
    citations = payload.get("citations") or []
    if citations and str(citations[0].get("passage") or "").strip():
        return str(citations[0]["passage"])
    return None


def _voted_row(answer_id: str, votes: _Judged) -> ExportRow:
    first, payload = votes.first, votes.first.payload or {}
    grounded = bool(payload.get("grounded"))
    accepted = accepted_answer(payload) if grounded else None
    origin: Origin = "upvoted" if not votes.down else "mixed" if votes.up else "downvoted"
    confirmed_refusal = origin == "upvoted" and not grounded
    return ExportRow(
        id=f"vote-{answer_id[:16]}",
        question=first.question,
        answers=(accepted,) if accepted and origin != "downvoted" else (),
        unanswerable=confirmed_refusal,
        review=origin != "upvoted" or not (accepted or confirmed_refusal),
        origin=origin,
        collection=first.collection,
        guild_id=first.guild_id,
        last_seen=votes.last_seen or first.created_at,
        votes_up=votes.up,
        votes_down=votes.down,
        reasons=tuple(votes.reasons),
        answer_given=str(payload.get("answer", "")) or None,
    )


def _refused_row(entry: _Refused) -> ExportRow:
    first = entry.first
    digest = hashlib.sha256(f"{first.collection}\n{question_key(first.question)}".encode()).hexdigest()
    return ExportRow(
        id=f"refused-{digest[:16]}",
        question=" ".join(first.question.split()),
        answers=(),
        unanswerable=True,
        review=True,
        origin="refused",
        collection=first.collection,
        guild_id=first.guild_id,
        last_seen=entry.last_seen or first.created_at,
        asked=entry.asked,
    )


def write_jsonl(rows: Iterable[ExportRow], stream: TextIO) -> int:
    """Write one JSON object per line; returns how many."""
    count = 0
    for row in rows:
        stream.write(json.dumps(row.to_dict(), ensure_ascii=False) + "\n")
        count += 1
    return count
