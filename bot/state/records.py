"""The rows the state layer hands out: frozen dataclasses, so callers cannot mistake them for live records.

Timestamps are always timezone-aware UTC. Answer payloads and settings are plain JSON-able dicts,
opaque to this layer, which is why it never imports the answering code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

AnswerKind = Literal["answer", "summary"]
ANSWER_KINDS: tuple[AnswerKind, ...] = ("answer", "summary")
FeedbackKind = Literal["vote", "refused"]


@dataclass(frozen=True, slots=True)
class SavedAnswer:
    """An answer shown to a user, kept so its buttons still work after a restart."""

    answer_id: str
    guild_id: str | None
    channel_id: str | None
    message_id: str | None
    collection: str
    question: str
    kind: AnswerKind
    payload: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Conversation:
    """Who started a thread (or reply chain), and about which collection."""

    conversation_id: str
    guild_id: str | None
    starter_user_id: str | None
    collection: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Turn:
    """One question and the answer given, numbered from 1 within its conversation."""

    conversation_id: str
    seq: int
    question: str
    answer_text: str
    answer_id: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Vote:
    """One person's current vote (+1 or -1) on one answer, with the message it was cast on."""

    answer_id: str
    user_hash: str
    vote: int
    reason: str | None
    message_id: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class VoteCounts:
    """Thumbs up and down, for the admin stats."""

    up: int
    down: int

    @property
    def total(self) -> int:
        return self.up + self.down


@dataclass(frozen=True, slots=True)
class QuestionStats:
    """How many questions were asked, answered and refused, and how long they took (nearest-rank)."""

    asked: int
    answered: int
    refused: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None


@dataclass(frozen=True, slots=True)
class UnansweredQuestion:
    """A refused question and how often it (or a case/whitespace variant of it) was asked."""

    question: str
    count: int
    last_asked: datetime


@dataclass(frozen=True, slots=True)
class PurgeCounts:
    """How many rows retention deleted, per table."""

    answers: int
    votes: int
    turns: int
    conversations: int


@dataclass(frozen=True, slots=True)
class FeedbackRow:
    """One line of a regression set: a vote on a saved answer, or a question the bot refused."""

    kind: FeedbackKind
    collection: str
    question: str
    guild_id: str | None
    created_at: datetime
    answer_id: str | None = None
    answer_kind: AnswerKind | None = None
    payload: dict[str, Any] | None = None
    vote: int | None = None
    reason: str | None = None
    message_id: str | None = None
