"""The bot's persistent state behind one object: answers, conversations, votes, stats, settings.

Every method runs in its own short transaction on a pooled connection, so it is safe to call from
worker threads (the Discord bot calls them through ``asyncio.to_thread``) and from several processes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.engine import URL

from bot.state import answers, conversations, feedback, questions, retention, settings, votes
from bot.state.engine import SQLITE_BEGIN, create_state_engine, database_errors, masked_url, resolve_url
from bot.state.errors import AnswerNotFound
from bot.state.migrate import upgrade_schema
from bot.state.records import (
    AnswerKind,
    Conversation,
    FeedbackRow,
    PurgeCounts,
    QuestionStats,
    SavedAnswer,
    Turn,
    UnansweredQuestion,
    Vote,
    VoteCounts,
)


def utc_now() -> datetime:
    return datetime.now(UTC)


def open_database(url: str | None, data_dir: Path, *, clock: Callable[[], datetime] = utc_now) -> Database:
    """Connect to the configured database (a SQLite file in ``data_dir`` when ``url`` is empty) and
    apply pending migrations. Raises StateError, with a one-line reason, if that is impossible."""
    resolved = resolve_url(url, data_dir)
    engine = create_state_engine(resolved)
    try:
        with database_errors(resolved, "open"):
            upgrade_schema(engine)
    except BaseException:
        engine.dispose()
        raise
    return Database(engine=engine, url=resolved, clock=clock)


@dataclass
class Database:
    """An open state database. Build it with :func:`open_database`; ``close`` it at shutdown."""

    engine: Engine
    url: URL
    clock: Callable[[], datetime] = field(default=utc_now)

    @property
    def backend(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    @property
    def display_url(self) -> str:
        """Where the state lives, for logs: the URL with its password masked."""
        return masked_url(self.url)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with database_errors(self.url, "write to"), self.engine.begin() as connection:
            yield connection

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with database_errors(self.url, "read from"), self.engine.connect() as connection:
            connection.execution_options(**{SQLITE_BEGIN: "DEFERRED"})
            with connection.begin():
                yield connection

    def _now(self) -> datetime:
        return self.clock().astimezone(UTC)

    # Answers ---------------------------------------------------------------------------------------

    def save_answer(
        self,
        *,
        collection: str,
        question: str,
        payload: dict[str, Any],
        kind: AnswerKind = "answer",
        guild_id: str | None = None,
        channel_id: str | None = None,
        message_id: str | None = None,
    ) -> str:
        """Keep an answer (its payload holds the text and citations) and return its new id."""
        answer = SavedAnswer(
            answer_id=uuid.uuid4().hex,
            guild_id=guild_id,
            channel_id=channel_id,
            message_id=message_id,
            collection=collection,
            question=question,
            kind=kind,
            payload=payload,
            created_at=self._now(),
        )
        with self._write() as connection:
            answers.insert_answer(connection, answer)
        return answer.answer_id

    def attach_message(self, answer_id: str, message_id: str) -> None:
        """Record the message that shows the answer, once Discord has assigned its id."""
        with self._write() as connection:
            if not answers.set_message(connection, answer_id, message_id):
                raise AnswerNotFound(answer_id)

    def get_answer(self, answer_id: str) -> SavedAnswer | None:
        with self._read() as connection:
            return answers.select_answer(connection, answer_id)

    def answer_for_message(self, message_id: str) -> SavedAnswer | None:
        with self._read() as connection:
            return answers.select_answer_for_message(connection, message_id)

    # Conversations ---------------------------------------------------------------------------------

    def start_conversation(
        self, conversation_id: str, *, collection: str, guild_id: str | None = None, starter_user_id: str | None = None
    ) -> Conversation:
        """Record who started a conversation; starting it again keeps the first record."""
        conversation = Conversation(conversation_id, guild_id, starter_user_id, collection, self._now())
        with self._write() as connection:
            return conversations.insert_conversation(connection, conversation)

    def get_conversation(self, conversation_id: str) -> Conversation | None:
        with self._read() as connection:
            return conversations.select_conversation(connection, conversation_id)

    def add_turn(self, conversation_id: str, question: str, answer_text: str, answer_id: str | None = None) -> Turn:
        """Append a question and its answer to a conversation (which need not have been started)."""
        with self._write() as connection:
            return conversations.insert_turn(connection, conversation_id, question, answer_text, answer_id, self._now())

    def recent_turns(self, conversation_id: str, limit: int = 10, *, through_seq: int | None = None) -> list[Turn]:
        """The conversation's last ``limit`` turns, oldest first; with ``through_seq``, the last ones
        up to that turn (the context of a reply to an earlier answer)."""
        with self._read() as connection:
            return conversations.select_recent_turns(connection, conversation_id, limit, through_seq)

    def turn_for_answer(self, answer_id: str) -> Turn | None:
        """The conversation turn that gave an answer, if it was given in one."""
        with self._read() as connection:
            return conversations.select_turn_for_answer(connection, answer_id)

    # Votes -----------------------------------------------------------------------------------------

    def record_vote(self, answer_id: str, user_hash: str, vote: int, *, message_id: str | None) -> Vote:
        """Record a person's +1/-1 on an answer, or change it: one vote per person per answer."""
        with self._write() as connection:
            if not answers.answer_exists(connection, answer_id):
                raise AnswerNotFound(answer_id)
            return votes.upsert_vote(connection, answer_id, user_hash, vote, message_id, self._now())

    def set_vote_reason(self, answer_id: str, user_hash: str, reason: str | None) -> bool:
        """Attach the 👎 modal's reason to the person's vote; False if they have not voted."""
        with self._write() as connection:
            return votes.update_reason(connection, answer_id, user_hash, reason, self._now())

    def votes_for(self, answer_id: str) -> list[Vote]:
        with self._read() as connection:
            return votes.select_votes_for(connection, answer_id)

    def vote_counts(self, guild_id: str | None, since: datetime | None = None) -> VoteCounts:
        """👍 and 👎 on the guild's answers (None: DMs and the CLI) set at or after ``since``."""
        with self._read() as connection:
            return votes.count_votes(connection, guild_id, since)

    # Question log ----------------------------------------------------------------------------------

    def log_question(
        self,
        *,
        guild_id: str | None,
        collection: str,
        question: str,
        grounded: bool,
        latency_ms: float,
        answer_id: str | None = None,
    ) -> None:
        """Note a question for the stats: whether it was answered from the text, and how fast."""
        with self._write() as connection:
            questions.insert_question(
                connection,
                guild_id=guild_id,
                collection=collection,
                question=question,
                grounded=grounded,
                latency_ms=latency_ms,
                answer_id=answer_id,
                created_at=self._now(),
            )

    def question_stats(self, guild_id: str | None, since: datetime | None = None) -> QuestionStats:
        """Asked, answered, refused and nearest-rank latency p50/p95 for a guild (None: DMs and CLI)."""
        with self._read() as connection:
            return questions.select_stats(connection, guild_id, since)

    def guilds_with_questions(self, since: datetime | None = None) -> list[str | None]:
        """The guilds (None: DMs and the CLI) that asked anything at or after ``since``, for a
        report over every server."""
        with self._read() as connection:
            return questions.select_guild_ids(connection, since)

    def top_unanswered(
        self, guild_id: str | None, since: datetime | None = None, limit: int = 10
    ) -> list[UnansweredQuestion]:
        """The most-asked refused questions, variants differing in case or spacing counted together."""
        with self._read() as connection:
            return questions.select_top_unanswered(connection, guild_id, since, limit)

    # Settings and meta -----------------------------------------------------------------------------

    def get_guild_settings(self, guild_id: str) -> dict[str, Any]:
        with self._read() as connection:
            return settings.select_guild_settings(connection, guild_id)

    def update_guild_settings(self, guild_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Merge ``changes`` into the guild's settings (None removes a key) and return them all."""
        with self._write() as connection:
            return settings.merge_guild_settings(connection, guild_id, changes, self._now())

    def get_meta(self, key: str) -> str | None:
        with self._read() as connection:
            return settings.select_meta(connection, key)

    def set_meta(self, key: str, value: str) -> None:
        with self._write() as connection:
            settings.upsert_meta(connection, key, value, self._now())

    def setdefault_meta(self, key: str, value: str) -> str:
        """Store ``value`` unless ``key`` is set already; return the stored value (first writer wins)."""
        with self._write() as connection:
            return settings.insert_meta_if_absent(connection, key, value, self._now())

    # Retention and export --------------------------------------------------------------------------

    def purge_older_than(self, days: float) -> PurgeCounts:
        """Delete answers, their votes, turns and emptied conversations older than ``days``; keep the
        question log, and answers someone voted on with their votes (the feedback export's data)."""
        cutoff = retention.retention_cutoff(days, self._now())
        with self._write() as connection:
            return retention.purge_before(connection, cutoff)

    def iter_feedback(self, collection: str | None = None) -> Iterator[FeedbackRow]:
        """Votes with their answers, then refused questions, for a JSONL regression set.

        Rows are streamed; the read transaction stays open until the iterator is exhausted or closed.
        """
        with self._read() as connection:
            yield from feedback.iter_votes(connection, collection)
            yield from feedback.iter_refused(connection, collection)
