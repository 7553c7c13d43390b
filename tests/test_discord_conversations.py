"""Conversations on Discord that outlive the bot process, on SQLite and on a real PostgreSQL.

The real discord.py client and answer core against the fake Discord, with the bot's state in a
database: each test module run is parametrized over SQLite (a file in the data directory) and a
PostgreSQL server the tests start themselves (tests/postgres_server.py). A "restart" stops the bot
and builds a new process's worth of objects over the same database and data directory: a new
Database (migrations re-checked), a new StoryService and a new StoryBot with a new client.

Time, where it matters (retention), comes from a clock the test moves; everything else waits for
states (a message, a reaction, a database row), never for durations. No function of story-bot is
replaced by a fake: only Discord is.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bot.discord.client import StoryBot, build_bot
from bot.discord.shown import Shown
from bot.logs import event_fields
from bot.service import StoryService
from bot.state import Database, open_database
from config import Settings, load_settings
from index.corpus import default_corpus
from index.embeddings import MiniLMEmbeddings
from index.loaders import LoadedDocument
from tests.discord_harness import (
    FERRY,
    ErrorRecords,
    answer_id,
    discord_rules_kept,
    index_documents,
    join_guild,
    recording_errors,
    saved_answer,
    start_bot,
    stop_bot,
)
from tests.fake_discord import (
    ADMIN,
    FakeDiscord,
    FakeGuild,
    FakeMessage,
    FakeUser,
    description,
    eventually,
)
from tests.postgres_server import PostgresServer

pytestmark = pytest.mark.asyncio(loop_scope="module")

SAMPLE = default_corpus()[0]
WHERE = "Where will Brandt meet Calloway?"
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October")
PLACES = ("the north quay", "the ferry ramp", "the harbour office", "the fish market", "the lifeboat station")
ENGINEERS = ("Ines Calloway", "Tomas Brandt", "Mara Quill", "Ada Finch", "Owen Pike", "Lena Hart", "Piet Vos")
# Sixteen dated inspections: a timeline long enough for two pages, citing more than five passages.
HARBOUR_LOG = LoadedDocument(
    "harbour-log.txt",
    "The Port Alder Harbour Log\n\n"
    + " ".join(
        f"On {MONTHS[i % 10]} {i + 3}, {2010 + i}, harbour engineer {ENGINEERS[i % 7]} inspected "
        f"{PLACES[i % 5]} at Port Alder and reported that the timber piles, the iron rails and the stone "
        "steps of the whole structure needed urgent repairs before the winter storms arrived on the coast."
        for i in range(16)
    ),
)
RETENTION_DAYS = 30


@dataclass
class MovableClock:
    """The time the database sees; tests move it explicitly."""

    now: datetime = field(default_factory=lambda: datetime(2025, 3, 1, 12, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now


class Routes(logging.Handler):
    """What the bot decided for each message it considered (answer, ignore, chit-chat…)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.routes: dict[int, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() == "message_routed":
            fields = event_fields(record)
            self.routes[int(fields["message"])] = str(fields["route"])


@dataclass
class Stack:
    """A fake Discord, and a bot "process" over one database and data directory."""

    backend: str
    url: str | None
    fake: FakeDiscord
    embeddings: MiniLMEmbeddings
    settings: Settings
    clock: MovableClock
    routes: Routes
    errors: ErrorRecords
    database: Database = field(init=False)
    service: StoryService = field(init=False)
    bot: StoryBot = field(init=False)
    running: asyncio.Task[None] = field(init=False)

    async def start(self) -> None:
        """What `storybot run` does: open (and migrate) the database, build the service and bot."""
        self.database = open_database(self.url, self.settings.resolved_data_dir(), clock=self.clock)
        self.service = StoryService(self.settings, self.embeddings)
        self.bot = build_bot(self.settings, self.service, self.database, guild_ready_timeout=0.05)
        self.running = await start_bot(self.bot, self.fake.app.token)

    async def stop(self) -> None:
        await stop_bot(self.bot, self.running)
        self.service.close()
        self.database.close()

    async def restart(self, **changes: Any) -> None:
        """Stop the bot process and start a new one (with changed settings, if given)."""
        await self.stop()
        if changes:
            self.settings = self.settings.model_copy(update=changes)
        await self.start()

    async def guild(
        self,
        name: str,
        *members: FakeUser,
        documents: tuple[LoadedDocument, ...] = (),
        nicknames: dict[int, str] | None = None,
    ) -> FakeGuild:
        guild = await join_guild(self.fake, self.bot, name, *members, nicknames=nicknames)
        await index_documents(self.service, guild, *documents)
        return guild

    async def mention(self, guild: FakeGuild, user: FakeUser, question: str, *others: FakeUser) -> FakeMessage:
        me = self.fake.app.user
        return await self.fake.say(guild.general, user, f"{me.mention} {question}", mentions=(me, *others))

    async def answer_to(self, message: FakeMessage) -> FakeMessage:
        """The bot's answer to a message: the first in the thread made from it (a fresh
        mention), or its reply to it."""

        def answer() -> FakeMessage | None:
            thread = self.fake.thread_of(message)
            for candidate in sorted(self.fake.messages.values(), key=lambda m: m.id):
                if not (candidate.author.bot and candidate.embeds):
                    continue
                if candidate.reference == message.id or (thread is not None and candidate.channel_id == thread.id):
                    return candidate
            return None

        return await self.fake.wait_for(answer, 60, f"an answer to message {message.id}")

    async def route_of(self, message: FakeMessage) -> str:
        return await eventually(lambda: self.routes.routes.get(message.id), f"the route of message {message.id}")

    async def saved(self, message: FakeMessage) -> Shown:
        return await saved_answer(self.database, message)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None: a SQLite file in the data directory; else a fresh database on the tests' PostgreSQL."""
    if request.param == "sqlite":
        yield None
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = server.create_database()
    try:
        yield server.url(name)
    finally:
        server.drop_database(name)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(
    database_url: str | None, embeddings: MiniLMEmbeddings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    routes = Routes()
    logger = logging.getLogger("storybot.discord")
    level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(routes)
    # The errors of discord.py and of the bot's Discord side (the logger its routes are read from).
    with recording_errors("discord", "storybot.discord") as errors, FakeDiscord(heartbeat_interval_ms=1000) as fake:
        settings = load_settings(
            data_dir=str(tmp_path_factory.mktemp("conversations")),
            discord_token=fake.app.token,
            ask_cooldown_uses=1000,
            retention_days=RETENTION_DAYS,
        )
        backend = "sqlite" if database_url is None else "postgresql"
        built = Stack(backend, database_url, fake, embeddings, settings, MovableClock(), routes, errors)
        with fake.patch_discord():
            await built.start()
            yield built
            await built.stop()
    logger.removeHandler(routes)
    logger.setLevel(level)


@pytest.fixture(autouse=True)
def discord_hygiene(stack: Stack) -> Iterator[None]:
    """Nothing Discord would refuse, no ping, no error logged."""
    with discord_rules_kept(stack.fake, stack.errors):
        yield


# --- across a restart ----------------------------------------------------------------------------


async def test_a_thread_conversation_and_its_buttons_survive_a_restart(stack: Stack) -> None:
    starter, neighbour = stack.fake.new_user("petra"), stack.fake.new_user("olaf")
    guild = await stack.guild("restart", starter, neighbour, documents=(FERRY,))
    asked = await stack.mention(guild, starter, WHERE)
    first = await stack.answer_to(asked)
    thread = stack.fake.thread_of(asked)
    assert thread is not None
    assert "town hall" in description(first)
    voted = await stack.fake.click(first, first.custom_id("👍"), user=starter)
    assert (await stack.fake.reply(voted)).content.startswith("Thanks")

    await stack.restart()

    clicked = await stack.fake.click(first, first.custom_id("Show passage [1]"), user=starter)
    passage = await stack.fake.reply(clicked)
    assert passage.ephemeral
    assert "**Calloway and Brandt will meet in the Port Alder town hall.**" in description(passage).replace("\\", "")

    changed = await stack.fake.click(first, first.custom_id("👎"), user=starter)
    assert (await stack.fake.modal(changed))["title"] == "Changed your vote to 👎"  # a reason is optional
    [vote] = stack.database.votes_for(answer_id(first))  # one vote per person per answer
    assert (vote.vote, vote.message_id) == (-1, str(first.id))
    assert vote.user_hash == stack.bot.hash_user(starter.id)
    payload = stack.database.get_answer(vote.answer_id).payload  # the answer and citations it judged
    assert payload["citations"][0]["passage"] == "Calloway and Brandt will meet in the Port Alder town hall."

    follow_up = await stack.fake.say(thread, starter, "When?")  # alone, "When?" cannot be answered
    second = await stack.answer_to(follow_up)
    assert "March 14" in description(second)
    assert second.reference == follow_up.id
    assert [t.question for t in stack.database.recent_turns(str(thread.id))] == [WHERE, "When?"]

    await stack.restart()
    reply = await stack.fake.say(thread, neighbour, "And when?", reply_to=first)  # a reply to the first answer
    third = await stack.answer_to(reply)
    assert "March 14" in description(third)


async def test_a_reply_to_an_ask_answer_in_a_channel_follows_up_on_it(stack: Stack) -> None:
    user = stack.fake.new_user()
    guild = await stack.guild("replies", user, documents=(FERRY,))
    asked = await stack.fake.slash("ask", user=user, guild=guild, question=WHERE)
    first = await stack.fake.reply(asked)
    assert "town hall" in description(first)

    reply = await stack.fake.say(guild.general, user, "When?", reply_to=first)
    second = await stack.answer_to(reply)
    assert second.channel_id == guild.general.id  # answered in place, as a reply
    assert "March 14" in description(second)
    assert stack.fake.thread_of(reply) is None

    await stack.restart()
    again = await stack.fake.say(guild.general, user, "Who will Calloway meet?", reply_to=second)
    third = await stack.answer_to(again)
    assert "Brandt" in description(third)
    chain = stack.database.turn_for_answer(answer_id(first))
    assert chain is not None
    turns = stack.database.recent_turns(chain.conversation_id)
    assert [t.question for t in turns] == [WHERE, "When?", "Who will Calloway meet?"]


# --- thread etiquette ----------------------------------------------------------------------------


async def test_in_its_thread_the_bot_answers_the_starter_and_whoever_addresses_it(stack: Stack) -> None:
    starter, other = stack.fake.new_user("petra"), stack.fake.new_user("olaf")
    guild = await stack.guild("etiquette", starter, other, documents=(FERRY,))
    asked = await stack.mention(guild, starter, WHERE)
    first = await stack.answer_to(asked)
    thread = stack.fake.thread_of(asked)
    assert thread is not None

    own = await stack.fake.say(thread, starter, "When?")  # the starter needs no mention
    assert "March 14" in description(await stack.answer_to(own))
    chatter = await stack.fake.say(thread, other, "Who is Tomas Brandt?")  # not addressed to the bot
    assert await stack.route_of(chatter) == "ignore"
    to_starter = await stack.fake.say(thread, other, "Is that a Tuesday?", reply_to=own)
    assert await stack.route_of(to_starter) == "ignore"
    back = await stack.fake.say(thread, starter, "Who is Tomas Brandt?", reply_to=to_starter)
    assert await stack.route_of(back) == "ignore"  # the starter talking to a member
    tagged = await stack.fake.say(thread, starter, f"{other.mention} what do you think?", mentions=(other,))
    assert await stack.route_of(tagged) == "ignore"

    mentioned = await stack.fake.say(
        thread, other, f"{stack.fake.app.user.mention} Who is Tomas Brandt?", mentions=(stack.fake.app.user,)
    )
    assert "ferry director" in description(await stack.answer_to(mentioned))
    replied = await stack.fake.say(thread, other, "What will be the main subject of the meeting?", reply_to=first)
    assert "winter timetable" in description(await stack.answer_to(replied))
    again = await stack.fake.say(thread, starter, "What has Calloway dared the ferry company to do?")
    assert "second morning crossing" in description(await stack.answer_to(again))

    answered = {m.reference for m in stack.fake.messages.values() if m.channel_id == thread.id and m.author.bot}
    assert not answered & {chatter.id, to_starter.id, back.id, tagged.id}


async def test_thanks_gets_a_reaction_not_an_answer_and_stays_out_of_the_memory(stack: Stack) -> None:
    starter = stack.fake.new_user("petra")
    guild = await stack.guild("thanks", starter, documents=(FERRY,))
    asked = await stack.mention(guild, starter, WHERE)
    await stack.answer_to(asked)
    thread = stack.fake.thread_of(asked)
    assert thread is not None

    for text in ("thanks!", "lol", "👍"):
        said = await stack.fake.say(thread, starter, text)
        assert await stack.route_of(said) == "chit-chat"
        await stack.fake.wait_for(lambda said=said: stack.fake.message(said.id).reactions, what="a reaction")
        assert stack.fake.message(said.id).reactions == [("👍", stack.fake.app.user.id)]
    bot_messages = [m for m in stack.fake.messages.values() if m.channel_id == thread.id and m.author.bot]
    assert len(bot_messages) == 1  # only the first answer: no refusal of "thanks"
    assert [t.question for t in stack.database.recent_turns(str(thread.id))] == [WHERE]

    follow_up = await stack.fake.say(thread, starter, "When?")  # its history is the question, not "lol"
    assert "March 14" in description(await stack.answer_to(follow_up))
    thanks_in_channel = await stack.mention(guild, starter, "thank you so much")
    assert await stack.route_of(thanks_in_channel) == "chit-chat"
    assert stack.fake.thread_of(thanks_in_channel) is None


async def test_thread_titles_and_answers_use_display_names(stack: Stack) -> None:
    starter, colleague = stack.fake.new_user("petra"), stack.fake.new_user("lhart")
    guild = await stack.guild("names", starter, colleague, documents=(FERRY,), nicknames={colleague.id: "Lena Hart"})
    asked = await stack.mention(guild, starter, f"{colleague.mention} asks: {WHERE}", colleague)
    answer = await stack.answer_to(asked)
    thread = stack.fake.thread_of(asked)
    assert thread is not None
    assert thread.name == f"Lena Hart asks: {WHERE}"
    assert answer.embeds[0]["title"] == f"Lena Hart asks: {WHERE}"
    assert "<@" not in thread.name + answer.embeds[0]["title"]


# --- buttons: votes, expiry, pages and menus ------------------------------------------------------


async def test_votes_are_one_per_person_and_can_be_changed(stack: Stack) -> None:
    first, second = stack.fake.new_user(), stack.fake.new_user()
    guild = await stack.guild("votes", first, second, documents=(FERRY,))
    reply = await stack.fake.reply(await stack.fake.slash("ask", user=first, guild=guild, question=WHERE))
    for user, emoji in ((first, "👍"), (second, "👍"), (first, "👍"), (first, "👎")):
        clicked = await stack.fake.click(reply, reply.custom_id(emoji), user=user)
        await stack.fake.wait_for(lambda clicked=clicked: clicked.answered_at, what="the vote's acknowledgement")
    votes = {v.user_hash: v.vote for v in stack.database.votes_for(answer_id(reply))}
    assert votes == {stack.bot.hash_user(first.id): -1, stack.bot.hash_user(second.id): 1}


async def test_a_reason_typed_into_the_modal_across_a_restart_is_saved(stack: Stack) -> None:
    user = stack.fake.new_user()
    guild = await stack.guild("reason", user, documents=(FERRY,))
    reply = await stack.fake.reply(await stack.fake.slash("ask", user=user, guild=guild, question=WHERE))
    clicked = await stack.fake.click(reply, reply.custom_id("👎"), user=user)
    await stack.fake.modal(clicked)

    await stack.restart()  # while the modal is open on the member's screen

    submitted = await stack.fake.submit_modal(clicked, {"reason": "the hall has a name"})
    assert (await stack.fake.reply(submitted)).content.startswith("Thanks: your 👎 and its reason are noted")
    [vote] = stack.database.votes_for(answer_id(reply))
    assert (vote.vote, vote.reason, vote.message_id) == (-1, "the hall has a name", str(reply.id))


async def test_buttons_past_the_retention_period_are_disabled_with_a_note(stack: Stack) -> None:
    user = stack.fake.new_user()
    guild = await stack.guild("retention", user, documents=(FERRY,))
    old = await stack.fake.reply(await stack.fake.slash("ask", user=user, guild=guild, question=WHERE))
    older = await stack.fake.reply(await stack.fake.slash("ask", user=user, guild=guild, question="When?"))
    stack.clock.now += timedelta(days=RETENTION_DAYS + 1)

    clicked = await stack.fake.click(old, old.custom_id("Show passage [1]"), user=user)
    await stack.fake.wait_for(lambda: clicked.answered_at, what="the message to be edited")
    edited = stack.fake.message(old.id)
    assert edited.content == (
        f"-# The buttons of this answer have expired: answers are kept for {RETENTION_DAYS} days. "
        "Ask again for a fresh one."
    )
    assert all(button.get("disabled") for button in edited.buttons())
    assert edited.embeds == old.embeds
    assert clicked.followups == []  # no passage shown

    await stack.restart()  # the new process purges what is past retention
    await eventually(lambda: stack.database.get_answer(answer_id(older)) is None, "the purge")
    clicked = await stack.fake.click(older, older.custom_id("👍"), user=user)
    await stack.fake.wait_for(lambda: clicked.answered_at, what="the message to be edited")
    assert all(button.get("disabled") for button in stack.fake.message(older.id).buttons())
    assert stack.database.votes_for(answer_id(older)) == []


async def test_long_answers_turn_pages_per_person_and_many_citations_get_a_menu(stack: Stack) -> None:
    reader, other = stack.fake.new_user("reader"), stack.fake.new_user("other")
    guild = await stack.guild("timeline", reader, other, documents=(HARBOUR_LOG,))
    asked = await stack.fake.slash("summary", user=reader, guild=guild, mode="timeline")
    public = await stack.fake.reply(asked, within=120)
    assert public.embeds[0]["footer"]["text"].endswith("Page 1/2")
    menu = public.menu()
    assert menu is not None
    assert len(menu["options"]) > 5  # more citations than a row of buttons: a menu with each one

    chosen = menu["options"][6]
    picked = await stack.fake.select(public, menu["custom_id"], [chosen["value"]], user=reader)
    passage = await stack.fake.reply(picked)
    assert passage.ephemeral
    shown = await stack.saved(public)
    cited = shown.citation(int(chosen["value"]))
    assert cited is not None
    assert cited.passage in description(passage).replace("\\", "").replace("**", "")

    turned = await stack.fake.click(public, public.custom_id("Next ▶"), user=reader)
    page_two = await stack.fake.reply(turned)
    assert page_two.ephemeral  # only the reader sees page 2…
    assert page_two.embeds[0]["footer"]["text"].endswith("Page 2/2")
    assert stack.fake.message(public.id).embeds == public.embeds  # …everyone else still sees page 1
    with pytest.raises(AssertionError, match="ephemeral"):
        await stack.fake.click(page_two, page_two.custom_id("◀ Previous"), user=other)
    back = await stack.fake.click(page_two, page_two.custom_id("◀ Previous"), user=reader)
    await stack.fake.wait_for(lambda: back.answered_at, what="the page to turn back")
    assert stack.fake.message(page_two.id).embeds[0]["footer"]["text"].endswith("Page 1/2")  # turned in place
    theirs = await stack.fake.reply(await stack.fake.click(public, public.custom_id("Next ▶"), user=other))
    assert theirs.id != page_two.id


# --- start-up: commands, the sample --------------------------------------------------------------


async def test_commands_are_synced_only_when_their_definitions_change(stack: Stack) -> None:
    puts = stack.fake.app.command_puts
    before = len(puts)
    assert before >= 1  # the first start synced
    await stack.restart()
    assert len(puts) == before  # same definitions: no sync
    limit = stack.settings.max_question_chars
    await stack.restart(max_question_chars=500)
    assert len(puts) == before + 1
    ask = next(c for c in stack.fake.app.global_commands if c["name"] == "ask")
    assert ask["options"][0]["max_length"] == 500
    await stack.restart(max_question_chars=limit)
    assert len(puts) == before + 2


async def test_a_server_without_documents_is_told_it_is_answered_from_the_sample(stack: Stack) -> None:
    admin = stack.fake.new_user("admin")
    guild = await stack.guild("sample", admin)
    for command in ("sources", "docs list"):
        listed = await stack.fake.reply(await stack.fake.slash(command, user=admin, guild=guild, permissions=ADMIN))
        text = description(listed)
        assert "This server hasn't added any documents, so its answers come from the bundled sample story." in text
        assert SAMPLE.source in text
    assert stack.service.sources(f"guild-{guild.id}") == []  # nothing copied into the server's collection

    upload = stack.fake.attachment(FERRY.source, FERRY.text.encode())
    added = await stack.fake.reply(
        await stack.fake.slash("docs add", user=admin, guild=guild, permissions=ADMIN, file=upload), within=120
    )
    assert f"Added **{FERRY.source}**" in added.content
    assert [i.source for i in stack.service.sources(f"guild-{guild.id}")] == [FERRY.source]
    removed = await stack.fake.reply(
        await stack.fake.slash("docs remove", user=admin, guild=guild, permissions=ADMIN, source=FERRY.source)
    )
    assert "No documents are left, so answers come from the bundled sample story again." in removed.content
    typed = await stack.fake.autocomplete("docs remove", "source", "", user=admin, guild=guild, permissions=ADMIN)
    await stack.fake.wait_for(lambda: typed.choices is not None, what="autocomplete choices")
    assert typed.choices == []  # the sample is not offered for removal
    assert stack.service.sources(f"guild-{guild.id}") == []


async def test_every_database_backend_is_covered(stack: Stack) -> None:
    assert stack.backend in {"sqlite", "postgresql"}
    assert stack.database.backend == stack.backend
    if stack.backend == "sqlite":
        assert Path(str(stack.database.url.database)).parent == stack.settings.resolved_data_dir()
