"""The real bot on the fake Discord, as the Discord test modules run it.

Starting a bot, waiting until it is ready and closing it again; one bot, over its own database and
data directory, serving a whole test module (:func:`bot_on_fake_discord`); guilds it has joined;
and the check every test of such a module ends with (:func:`discord_rules_kept`): Discord's rules
unbroken and no error logged. What the tests read of the bot's own messages (which answer a
message shows, as the database keeps it) is here too; what any Discord client would read of a
message (its embeds' descriptions and footers, an interaction's edits) is in tests/fake_discord.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any, Self

from bot.discord.client import StoryBot, build_bot
from bot.discord.shown import Shown, shown_from_saved
from bot.service import StoryService, build_service
from bot.state import Database, open_database
from bot.state.database import utc_now
from config import Settings, load_settings
from index.embeddings import MiniLMEmbeddings
from index.loaders import LoadedDocument
from tests.fake_discord import FakeApp, FakeDiscord, FakeGuild, FakeMessage, FakeUser, check_discord_rules, eventually

READY_WITHIN = 120.0  # seconds: a safety net for a bot that never gets ready, not a performance assertion
BOT_LOGGERS = ("discord", "storybot")  # discord.py's and the bot's own

# The story most Discord tests ask about: a date, a place and a quote, each in a sentence of its own.
FERRY = LoadedDocument(
    "ferry-talks.txt",
    "Ferry Talks\n\n"
    "Harbour chair Ines Calloway will meet ferry director Tomas Brandt on March 14. "
    "Calloway and Brandt will meet in the Port Alder town hall. "
    "Calloway said the winter timetable will be the main subject of the meeting. "
    "The two spoke by phone last week. "
    "Calloway has dared the ferry company to run a second morning crossing. "
    "“The islanders cannot keep waiting,” Calloway said.",
)


# --- errors logged --------------------------------------------------------------------------------


class ErrorRecords(logging.Handler):
    """Collects the ERROR records of the loggers it is attached to. A bot can fail where no test
    looks (a missing key in a gateway event can stop discord.py silently; a failing button callback
    is only logged), so the Discord tests also check that nothing was logged at ERROR."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def take(self) -> list[str]:
        """The messages logged since the last take, forgotten here: one bot serves many tests, and
        each test answers only for the errors logged while it ran."""
        messages = [record.getMessage() for record in self.records]
        self.records.clear()
        return messages


@contextlib.contextmanager
def recording_errors(*loggers: str) -> Iterator[ErrorRecords]:
    """The ERROR records of the named loggers (and their children) while the block runs."""
    errors = ErrorRecords()
    for name in loggers:
        logging.getLogger(name).addHandler(errors)
    try:
        yield errors
    finally:
        for name in loggers:
            logging.getLogger(name).removeHandler(errors)


@contextlib.contextmanager
def discord_rules_kept(fake: FakeDiscord, errors: ErrorRecords) -> Iterator[None]:
    """Around one test: nothing the bot sent meanwhile broke Discord's rules (nothing refused, no
    ping, ``allowed_mentions`` on every send: see check_discord_rules) and nothing was logged at
    ERROR. Counted from where the test started, since the fake and the bot outlive it."""
    rejections, sent = len(fake.rejections), len(fake.sent)
    yield
    check_discord_rules(fake, rejections, sent)
    assert errors.take() == [], "errors were logged"


# --- starting and stopping a bot ------------------------------------------------------------------


async def start_bot(bot: StoryBot, token: str, within: float = READY_WITHIN) -> asyncio.Task[None]:
    """Start a bot's client as a task on this loop and wait until it is ready (connected, with its
    commands synced). A bot that does not get ready is closed again, so that it does not keep a
    connection to the fake into the next test."""
    running = asyncio.create_task(bot.start(token))
    try:
        await asyncio.wait_for(bot.wait_until_ready(), within)
    except BaseException:
        await stop_bot(bot, running)
        raise
    return running


async def stop_bot(bot: StoryBot, running: asyncio.Task[None]) -> None:
    """Close a bot's client and wait for its task to end, so that what it raised is seen here. The
    service and the database stay open: their owner closes them (as in `storybot run`)."""
    await bot.close()
    await running


@contextlib.asynccontextmanager
async def running_bot(bot: StoryBot, token: str, within: float = READY_WITHIN) -> AsyncIterator[StoryBot]:
    """A bot that is ready for the block and closed after it, even when the block fails."""
    running = await start_bot(bot, token, within)
    try:
        yield bot
    finally:
        await stop_bot(bot, running)


# --- guilds ---------------------------------------------------------------------------------------


async def join_guild(
    fake: FakeDiscord,
    bot: StoryBot,
    name: str = "guild",
    *members: FakeUser,
    apps: tuple[FakeApp, ...] = (),
    nicknames: dict[int, str] | None = None,
    within: float = 30.0,
) -> FakeGuild:
    """A new guild on the fake, once the bot has seen it (unless ``apps`` leaves the bot out). The
    fake has sent GUILD_CREATE when ``add_guild`` returns, but the bot handles it on its own loop: a
    command sent before then would reach a bot that does not know the guild yet."""
    guild = await fake.add_guild(name, members=members, apps=apps, nicknames=nicknames)
    if (not apps or fake.app in apps) and bot.get_guild(guild.id) is None:
        await bot.wait_for("guild_join", check=lambda joined: joined.id == guild.id, timeout=within)
    return guild


async def index_documents(service: StoryService, guild: FakeGuild, *documents: LoadedDocument) -> None:
    """Index documents as the guild's own (its collection), as /docs add would. In a thread: the
    bot's event loop keeps serving Discord (heartbeats included) meanwhile."""
    for document in documents:
        await asyncio.to_thread(service.index_document, document, f"guild-{guild.id}")


# --- one bot for a whole test module ----------------------------------------------------------


@dataclass
class BotWorld:
    """A fake Discord and one bot on it, with everything the bot was built from. Test modules
    subclass it with their own fields and helpers (see :meth:`over`)."""

    fake: FakeDiscord
    bot: StoryBot
    service: StoryService
    settings: Settings
    database: Database
    data_dir: Path
    errors: ErrorRecords  # of BOT_LOGGERS: see discord_rules_kept

    @classmethod
    def over(cls, world: BotWorld, **extra: Any) -> Self:
        """A module's own world over this running bot, with the fields the module adds."""
        return cls(**{f.name: getattr(world, f.name) for f in fields(BotWorld)}, **extra)

    async def guild(
        self,
        name: str = "guild",
        *members: FakeUser,
        apps: tuple[FakeApp, ...] = (),
        documents: tuple[LoadedDocument, ...] = (),
        within: float = 30.0,
    ) -> FakeGuild:
        """A guild the bot has just joined (and has seen), holding ``documents`` as its own."""
        guild = await join_guild(self.fake, self.bot, name, *members, apps=apps, within=within)
        await index_documents(self.service, guild, *documents)
        return guild


@contextlib.asynccontextmanager
async def bot_on_fake_discord(
    embeddings: MiniLMEmbeddings,
    data_dir: Path,
    *,
    settings: Mapping[str, Any] | None = None,
    bot_options: Mapping[str, Any] | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> AsyncIterator[BotWorld]:
    """What `storybot run` builds, against a fresh fake Discord: settings (the fake's token, the
    data directory, then ``settings``), the service, the database in ``data_dir`` (SQLite, on
    ``clock``) and the bot, ready for the block; then all of it closed in the reverse order.

    ``bot_options`` go to build_bot. Unless they say otherwise, the bot waits 0.05 s, not
    discord.py's 2 s, for the GUILD_CREATE stream to end before it is ready: no idle wait at the
    start of every module."""
    with recording_errors(*BOT_LOGGERS) as errors, FakeDiscord(heartbeat_interval_ms=1000) as fake:
        config = load_settings(data_dir=str(data_dir), discord_token=fake.app.token, **(settings or {}))
        service = build_service(config, embeddings)
        database = open_database(None, data_dir, clock=clock)
        try:
            with fake.patch_discord():
                bot = build_bot(config, service, database, **{"guild_ready_timeout": 0.05, **(bot_options or {})})
                async with running_bot(bot, fake.app.token):
                    yield BotWorld(fake, bot, service, config, database, data_dir, errors)
        finally:
            service.close()
            database.close()


# --- the bot's messages -------------------------------------------------------------------------


def answer_id(message: FakeMessage) -> str:
    """The database id of the answer a message shows, from its buttons' custom ids (which is how
    the bot finds the answer again when a button is clicked, even after a restart)."""
    match = re.search(r"sb:[pvgsr]:([0-9a-f]{32})", " ".join(b["custom_id"] for b in message.buttons()))
    assert match, message.buttons()
    return match.group(1)


async def saved_answer(database: Database, message: FakeMessage) -> Shown:
    """The answer behind a message, as the database keeps it (attached to the message). Waited
    for: the bot saves it just after the message is sent."""
    found = await eventually(
        lambda: database.answer_for_message(str(message.id)), f"the answer of message {message.id}"
    )
    return shown_from_saved(found)
