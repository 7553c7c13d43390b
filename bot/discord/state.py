"""The bot's memory, in the database: answers behind buttons, thread conversations, votes.

How Discord things map to ``bot.state`` tables:

* every answer or summary the bot shows is a row of ``answers`` (its payload renders the message
  again); button custom ids carry its ``answer_id``, and ``message_id`` is filled in once sent;
* a thread the bot opened, or a DM, is a ``conversations`` row keyed by its channel id, with the
  pseudonym of the member who started it; each answer given there is a ``turns`` row;
* a Discord reply to an answer continues the conversation that answer belongs to; an answer given
  outside one (``/ask``, a mention in someone else's thread) starts a reply chain keyed
  ``reply-<message id>`` whose first turn is that answer;
* votes are ``votes`` rows: one per person (pseudonym) per answer, changeable.

Every call runs in a worker thread, so the event loop never waits on the database.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from bot.admin import StatsReport, build_stats_report
from bot.answering.data import Answer, Summary, Turn
from bot.discord.feedback import VOTE_VALUES, Vote, fleet_salt
from bot.discord.render import NO_LABELS, SourceLabels
from bot.discord.server_settings import ServerSettings, settings_from_stored
from bot.discord.shown import Shown, answer_payload, answer_shown, shown_from_saved, summary_payload, summary_shown
from bot.logs import log_event
from bot.state import Conversation, Database, PurgeCounts, SavedAnswer, StateError, is_expired

T = TypeVar("T")

log = logging.getLogger("storybot.discord")

COMMANDS_HASH_KEY = "discord_commands:{app}:{scope}"
DATABASE_THREADS = 2
# Server settings are read for every message addressed to the bot, so they are kept this long;
# a change made by this process applies at once, one made by another bot of a fleet within this.
SETTINGS_CACHE_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Context:
    """Where a new answer goes in the conversation memory, and the history it is asked with."""

    conversation_id: str | None
    history: tuple[Turn, ...] = ()


def thread_key(channel_id: int) -> str:
    return str(channel_id)


def reply_chain_key(message_id: str) -> str:
    return f"reply-{message_id}"


def as_id(value: int | None) -> str | None:
    return None if value is None else str(value)


class BotState:
    """Async access to the database for the cogs and buttons."""

    def __init__(
        self,
        database: Database,
        *,
        retention_days: int,
        history_turns: int,
        settings_cache_seconds: float = SETTINGS_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.database = database
        self.retention_days = retention_days
        self.history_turns = max(0, history_turns)
        self.settings_cache_seconds = settings_cache_seconds
        self._clock = clock
        self._server_settings: dict[int, tuple[float, ServerSettings]] = {}
        # A few threads of its own: database calls are short, and a burst of them spread over
        # many threads would mostly contend for the GIL with the event loop.
        self._threads = ThreadPoolExecutor(DATABASE_THREADS, thread_name_prefix="storybot-state")

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._threads, fn, *args)

    def close(self) -> None:
        """Stop the threads (the database itself belongs to whoever opened it)."""
        self._threads.shutdown(wait=True)

    def now(self) -> datetime:
        return self.database.clock()

    def is_expired(self, created_at: datetime) -> bool:
        """Older than the retention period: its buttons are disabled when clicked."""
        return is_expired(created_at, self.retention_days, self.now())

    # Answers ---------------------------------------------------------------------------------

    async def save_answer(
        self,
        answer: Answer,
        *,
        collection: str,
        guild_id: int | None,
        channel_id: int | None,
        latency_ms: float,
        message_id: int | None = None,
        labels: SourceLabels = NO_LABELS,
    ) -> Shown:
        """Keep an answer before its message is sent (its buttons need the id); ``message_id``
        when the message exists already (a deferred response), else see :meth:`attach_message`.
        ``labels``: titles and addresses of the web pages it cites, kept with it.

        Its question goes into the question log behind ``/stats`` here too: every answer shown on
        Discord (/ask, mentions, thread follow-ups and replies) is saved by this one method, so
        the log misses none and counts none twice."""

        def run() -> str:
            answer_id = self.database.save_answer(
                collection=collection,
                question=answer.question,
                payload=answer_payload(answer, labels),
                guild_id=as_id(guild_id),
                channel_id=as_id(channel_id),
                message_id=as_id(message_id),
            )
            self._log_question(answer, collection, as_id(guild_id), latency_ms, answer_id)
            return answer_id

        answer_id = await self._run(run)
        return answer_shown(answer_id, answer, collection, self.now(), labels)

    def _log_question(
        self, answer: Answer, collection: str, guild_id: str | None, latency_ms: float, answer_id: str
    ) -> None:
        """Log the question as answered or refused; a failure costs a line of stats, not the answer."""
        try:
            self.database.log_question(
                guild_id=guild_id,
                collection=collection,
                question=answer.question,
                grounded=answer.grounded,
                latency_ms=latency_ms,
                answer_id=answer_id,
            )
        except StateError as exc:
            log_event(log, "question_log_failed", logging.WARNING, answer=answer_id, error=str(exc))

    async def save_summary(
        self,
        summary: Summary,
        *,
        collection: str,
        guild_id: int | None,
        channel_id: int | None,
        message_id: int | None = None,
        labels: SourceLabels = NO_LABELS,
    ) -> Shown:
        shown = summary_shown("", summary, collection, self.now(), labels)
        answer_id = await self._run(
            lambda: self.database.save_answer(
                collection=collection,
                question=shown.question,
                payload=summary_payload(summary, labels),
                kind="summary",
                guild_id=as_id(guild_id),
                channel_id=as_id(channel_id),
                message_id=as_id(message_id),
            )
        )
        return summary_shown(answer_id, summary, collection, shown.created_at, labels)

    async def attach_message(self, answer_id: str, message_id: int) -> None:
        await self._run(self.database.attach_message, answer_id, str(message_id))

    async def shown(self, answer_id: str) -> Shown | None:
        """A saved answer, or None when it is unknown (purged, or from before the database)."""
        saved = await self._run(self.database.get_answer, answer_id)
        return None if saved is None else shown_from_saved(saved)

    async def shown_answer(self, answer_id: str) -> Shown | None:
        """A saved answer by its id, if still within retention."""
        return self._within_retention(await self._run(self.database.get_answer, answer_id))

    async def shown_in_message(self, message_id: int) -> Shown | None:
        """The answer a message shows, if it is one of the bot's and still within retention."""
        return self._within_retention(await self._run(self.database.answer_for_message, str(message_id)))

    def _within_retention(self, saved: SavedAnswer | None) -> Shown | None:
        if saved is None or self.is_expired(saved.created_at):
            return None
        return shown_from_saved(saved)

    # Conversations ---------------------------------------------------------------------------

    async def conversation(self, channel_id: int) -> Conversation | None:
        return await self._run(self.database.get_conversation, thread_key(channel_id))

    async def start_conversation(
        self, channel_id: int, *, collection: str, guild_id: int | None, starter: str
    ) -> Conversation:
        """Remember who started a thread (or DM): the bot answers them there without a mention."""
        return await self._run(
            lambda: self.database.start_conversation(
                thread_key(channel_id), collection=collection, guild_id=as_id(guild_id), starter_user_id=starter
            )
        )

    async def history(self, conversation_id: str) -> tuple[Turn, ...]:
        turns = await self._run(self.database.recent_turns, conversation_id, self.history_turns)
        return tuple(Turn(t.question, t.answer_text) for t in turns)

    async def reply_context(self, replied: Shown, message_id: int, guild_id: int | None) -> Context:
        """A Discord reply to an answer: it continues that answer's conversation, with the turns
        up to that answer as history (an answer given outside a conversation starts one)."""

        def run() -> Context:
            turn = self.database.turn_for_answer(replied.answer_id)
            if turn is None:
                key = reply_chain_key(str(message_id))
                self.database.start_conversation(key, collection=replied.collection, guild_id=as_id(guild_id))
                turn = self.database.add_turn(key, replied.question, replied.text, replied.answer_id)
            turns = self.database.recent_turns(turn.conversation_id, self.history_turns, through_seq=turn.seq)
            return Context(turn.conversation_id, tuple(Turn(t.question, t.answer_text) for t in turns))

        return await self._run(run)

    async def add_turn(self, conversation_id: str, question: str, shown: Shown) -> None:
        await self._run(self.database.add_turn, conversation_id, question, shown.text, shown.answer_id)

    # Server settings ---------------------------------------------------------------------------

    async def server_settings(self, guild_id: int, *, fresh: bool = False) -> ServerSettings:
        """A server's settings (defaults for what it never set), kept for a short while;
        ``fresh`` reads them from the database (before changing them, say)."""
        cached = self._server_settings.get(guild_id)
        if not fresh and cached is not None and self._clock() - cached[0] < self.settings_cache_seconds:
            return cached[1]
        stored = await self._run(self.database.get_guild_settings, str(guild_id))
        return self._remember_settings(guild_id, stored)

    async def change_server_settings(self, guild_id: int, changes: Mapping[str, Any]) -> ServerSettings:
        """Apply changes (None restores a default) and return the settings now in force."""
        if not changes:
            return await self.server_settings(guild_id)
        stored = await self._run(self.database.update_guild_settings, str(guild_id), dict(changes))
        return self._remember_settings(guild_id, stored)

    def _remember_settings(self, guild_id: int, stored: Mapping[str, Any]) -> ServerSettings:
        settings = settings_from_stored(stored)
        self._server_settings[guild_id] = (self._clock(), settings)
        return settings

    # Votes, pseudonyms, housekeeping --------------------------------------------------------

    async def record_vote(self, answer_id: str, user_hash: str, vote: Vote, message_id: int | None) -> bool:
        """Record or change a person's vote; True when it replaced a different one."""

        def run() -> bool:
            before = {v.user_hash: v.vote for v in self.database.votes_for(answer_id)}.get(user_hash)
            self.database.record_vote(answer_id, user_hash, VOTE_VALUES[vote], message_id=as_id(message_id))
            return before is not None and before != VOTE_VALUES[vote]

        return await self._run(run)

    async def save_vote_reason(self, answer_id: str, user_hash: str, reason: str, message_id: int | None) -> None:
        """Keep the reason given in the 👎 modal. The 👎 is recorded (again) with it, so the
        reason always sits on a 👎, even if the vote changed while the modal was open."""

        def run() -> None:
            self.database.record_vote(answer_id, user_hash, VOTE_VALUES["down"], message_id=as_id(message_id))
            self.database.set_vote_reason(answer_id, user_hash, reason)

        await self._run(run)

    async def stats_report(self, guild_id: int | None) -> StatsReport:
        """What ``/stats`` shows: the last 7 and 30 days of the guild's questions and votes."""
        return await self._run(lambda: build_stats_report(self.database, as_id(guild_id), now=self.now()))

    async def salt(self, data_dir: Path) -> bytes:
        return await self._run(fleet_salt, self.database, data_dir)

    async def purge(self) -> PurgeCounts:
        """Delete answers, votes and turns older than the retention period."""
        return await self._run(self.database.purge_older_than, self.retention_days)

    async def commands_hash(self, app_id: int, scope: str) -> str | None:
        return await self._run(self.database.get_meta, COMMANDS_HASH_KEY.format(app=app_id, scope=scope))

    async def remember_commands_hash(self, app_id: int, scope: str, digest: str) -> None:
        await self._run(self.database.set_meta, COMMANDS_HASH_KEY.format(app=app_id, scope=scope), digest)
