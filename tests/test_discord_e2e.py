"""End to end: the real discord.py client, the real answer core (MiniLM, Chroma), a fake Discord.

One bot serves the whole module; each test works in guilds and with users of its own, so tests
do not depend on each other. After every test the fake must have refused nothing, delivered no
ping, seen every message sent with ``allowed_mentions`` none, and the ``discord`` and
``storybot`` loggers must have logged no error (a missing key in a gateway event can otherwise
stop discord.py silently).
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio

from bot.answering.data import Answer, Citation, Turn
from bot.discord.client import ShardedStoryBot, StoryBot, build_bot
from bot.discord.render import SUMMARY_MODES
from bot.logs import KeyValueFormatter
from bot.service import StoryService
from config import Settings, load_settings
from index.corpus import DEFAULT_CORPUS_FILES, default_corpus
from index.embeddings import MiniLMEmbeddings
from tests.fake_discord import (
    ADMIN,
    CHANNEL_MESSAGE,
    DEFERRED_CHANNEL_MESSAGE,
    MANAGE_GUILD,
    MEMBER,
    FakeApp,
    FakeDiscord,
    FakeGuild,
    FakeInteraction,
    FakeMessage,
    FakeUser,
    check_discord_rules,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

STORY = default_corpus()[0]
LIGHTHOUSE = (
    "The Lighthouse at Gull Point\n\n"
    "Every evening at dusk, the keeper Mara Quill climbed the ninety steps of the lighthouse and lit the great lamp. "
    "Her brother Tobias repaired the fishing nets on the pier below. "
    "In the winter of the great storm, a trawler called the Silver Heron ran aground on the northern reef, "
    "and Mara rowed out alone to rescue its crew of six."
)


class ErrorRecords(logging.Handler):
    """Collects ERROR records of the discord and storybot loggers."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class LogLines(logging.Handler):
    """Collects log lines (as the operator's key=value log shows them) that hold ``marker``, and
    tells waiters when one arrives."""

    def __init__(self, marker: str) -> None:
        super().__init__(logging.INFO)
        self.marker = marker
        self.lines: list[str] = []
        self.seen = asyncio.Event()
        self.setFormatter(KeyValueFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        line = self.format(record)
        if self.marker in line.split():
            self.lines.append(line)
            self.seen.set()


@dataclass
class World:
    fake: FakeDiscord
    bot: StoryBot
    service: StoryService
    settings: Settings
    errors: ErrorRecords
    shared: FakeGuild  # for tests that need no isolation: it answers from the bundled story

    async def guild(self, name: str = "guild", *members: FakeUser, apps: tuple[FakeApp, ...] = ()) -> FakeGuild:
        """A guild the bot has just joined (and has seen)."""
        guild = await self.fake.add_guild(name, members=members, apps=apps)
        if (not apps or self.fake.app in apps) and self.bot.get_guild(guild.id) is None:
            await self.bot.wait_for("guild_join", check=lambda joined: joined.id == guild.id, timeout=30)
        return guild

    async def ask(self, guild: FakeGuild | None, question: str, user: FakeUser | None = None) -> FakeMessage:
        asked = await self.fake.slash("ask", user=user or self.fake.new_user(), guild=guild, question=question)
        return await self.fake.reply(asked)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(embeddings: MiniLMEmbeddings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    errors = ErrorRecords()
    for name in ("discord", "storybot"):
        logging.getLogger(name).addHandler(errors)
    fake = FakeDiscord(heartbeat_interval_ms=1000).start()
    data_dir = tmp_path_factory.mktemp("discord-data")
    settings = load_settings(
        data_dir=str(data_dir), discord_token=fake.app.token, ask_cooldown_uses=3, ask_cooldown_seconds=3600
    )
    service = StoryService(settings, embeddings)
    with fake.patch_discord():
        bot = build_bot(settings, service, guild_ready_timeout=0.05)
        running = asyncio.create_task(bot.start(fake.app.token))
        await asyncio.wait_for(bot.wait_until_ready(), 120)
        shared = await fake.add_guild("shared")
        if bot.get_guild(shared.id) is None:
            await bot.wait_for("guild_join", check=lambda joined: joined.id == shared.id, timeout=30)
        await asyncio.to_thread(service.ensure_corpus, f"guild-{shared.id}")  # seed it once, up front
        yield World(fake, bot, service, settings, errors, shared)
        await bot.close()
        await running
    fake.stop()
    for name in ("discord", "storybot"):
        logging.getLogger(name).removeHandler(errors)


@pytest.fixture(autouse=True)
def discord_hygiene(world: World) -> Iterator[None]:
    """Every test must leave Discord's rules unbroken."""
    fake = world.fake
    rejections, sent = len(fake.rejections), len(fake.sent)
    yield
    check_discord_rules(fake, rejections, sent)
    errors = [r.getMessage() for r in world.errors.records]
    world.errors.records.clear()
    assert errors == [], "errors were logged"


def custom_key(message: FakeMessage) -> str:
    match = re.search(r"sb:[pvg]:([0-9a-f]{16})", " ".join(b["custom_id"] for b in message.buttons()))
    assert match, message.buttons()
    return match.group(1)


def description(message: FakeMessage) -> str:
    return "".join(e.get("description", "") for e in message.embeds)


# --- /ask ---------------------------------------------------------------------------------


async def test_ask_is_deferred_then_answered_with_a_verifiable_citation(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="storybot.discord")  # let INFO through to handlers
    logged = LogLines("event=answer")
    logging.getLogger("storybot.discord").addHandler(logged)
    threads: list[int] = []
    original_encode = world.service.embeddings.encode

    def spying_encode(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.get_ident())
        return original_encode(*args, **kwargs)

    monkeypatch.setattr(world.service.embeddings, "encode", spying_encode)
    guild = world.shared
    asked = await world.fake.slash(
        "ask", user=world.fake.new_user(), guild=guild, question="When will Petro meet Trump?"
    )
    reply = await world.fake.reply(asked)

    assert asked.callback_type == DEFERRED_CHANNEL_MESSAGE  # acknowledged before answering
    assert not reply.ephemeral
    embed = reply.embeds[0]
    assert embed["title"] == "When will Petro meet Trump?"
    assert "February 3" in embed["description"]
    assert embed["fields"][0]["name"] == f"[1] {STORY.source}"
    quote = embed["fields"][0]["value"].strip("“”…")
    assert quote[:80] in STORY.text.replace("\n", " ")
    assert threads, "the answer was computed"
    assert threading.get_ident() not in threads, "the answer was computed on the event loop"

    shown = world.bot.registry.get(custom_key(reply))
    assert shown is not None
    citation = shown.citations[0]
    text = world.service.store(f"guild-{guild.id}").document_text(citation.source)
    assert text is not None
    assert text[citation.start : citation.end] == citation.passage
    assert "February 3" in citation.passage

    await asyncio.wait_for(logged.seen.wait(), 30)  # logged just after the answer is sent
    logging.getLogger("storybot.discord").removeHandler(logged)
    [line] = logged.lines
    assert f"guild={guild.id}" in line
    assert re.search(r"latency_ms=\d+\.\d", line)
    assert f"passages={STORY.source}@{citation.start}-{citation.end}" in line


async def test_a_question_the_story_does_not_answer_is_refused_plainly(world: World) -> None:
    guild = world.shared
    reply = await world.ask(guild, "What is the boiling point of mercury in Kelvin?")
    embed = reply.embeds[0]
    assert "The story doesn't say." in embed["description"]
    assert "fields" not in embed or embed["fields"] == []  # no quote passed off as an answer
    assert not any("Show passage" in (b.get("label") or "") for b in reply.buttons())


@pytest.mark.parametrize("question", ["", "   \n\t ", "x" * 1001, "?!?"])
async def test_bad_questions_get_a_clear_ephemeral_error(world: World, question: str) -> None:
    asked = await world.fake.slash("ask", user=world.fake.new_user(), guild=world.shared, question=question)
    reply = await world.fake.reply(asked)
    assert asked.callback_type == CHANNEL_MESSAGE  # answered at once, never deferred
    assert reply.ephemeral
    assert reply.content.startswith("Please")


async def test_asking_too_often_meets_a_friendly_cooldown(world: World) -> None:
    guild, user = world.shared, world.fake.new_user()
    for _ in range(world.settings.ask_cooldown_uses):
        await world.ask(guild, "When will Petro meet Trump?", user)
    asked = await world.fake.slash("ask", user=user, guild=guild, question="When will Petro meet Trump?")
    reply = await world.fake.reply(asked)
    assert reply.ephemeral
    assert reply.content.startswith("Slow down a little: you can ask again in")
    other = await world.ask(guild, "When will Petro meet Trump?")  # other users are unaffected
    assert "February 3" in description(other)


async def test_show_passage_reveals_the_full_passage_with_context_to_the_clicker_only(world: World) -> None:
    guild, user = world.shared, world.fake.new_user()
    reply = await world.ask(guild, "What did Petro dare Trump to do?", user)
    clicked = await world.fake.click(reply, reply.custom_id("Show passage [1]"), user=user)
    shown = await world.fake.reply(clicked)
    assert shown.ephemeral
    passage = world.bot.registry.get(custom_key(reply))
    assert passage is not None
    embed = shown.embeds[0]
    assert f"**{passage.citations[0].passage}**" in embed["description"].replace("\\", "")
    assert len(embed["description"]) > len(passage.citations[0].passage) + 4  # some context around it
    assert embed["footer"]["text"].startswith(f"characters {passage.citations[0].start}–")


async def test_votes_are_stored_with_the_answer_and_a_hashed_user_id(world: World) -> None:
    guild, user = world.shared, world.fake.new_user()
    reply = await world.ask(guild, "When will Petro meet Trump?", user)
    clicked = await world.fake.click(reply, reply.custom_id("👍"), user=user)
    thanks = await world.fake.reply(clicked)
    assert thanks.ephemeral
    assert thanks.content.startswith("Thanks")

    votes = world.bot.feedback.read()
    vote = next(v for v in votes if v.user == world.bot.feedback.hash_user(user.id))
    assert vote.vote == "up"
    assert vote.question == "When will Petro meet Trump?"
    assert "February 3" in vote.answer
    assert vote.citations[0]["source"] == STORY.source
    assert str(user.id) not in vote.user
    assert vote.user == world.bot.feedback.hash_user(user.id)
    assert vote.timestamp


async def test_buttons_from_before_a_restart_reply_politely(world: World) -> None:
    guild, user = world.shared, world.fake.new_user()
    reply = await world.ask(guild, "When will Petro meet Trump?", user)
    world.bot.registry.clear()
    clicked = await world.fake.click(reply, reply.custom_id("👎"), user=user)
    note = await world.fake.reply(clicked)
    assert note.ephemeral
    assert "too old" in note.content


async def test_unexpected_failures_are_logged_and_the_user_gets_an_apology(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Answer:
        raise RuntimeError("index exploded")

    monkeypatch.setattr(world.service, "aask", broken)
    reply = await world.ask(world.shared, "When will Petro meet Trump?")
    assert reply.ephemeral  # the public "thinking…" placeholder made way for a private note
    assert reply.content.startswith("Sorry, something went wrong")
    assert "exploded" not in reply.content
    assert "Traceback" not in reply.content
    logged = [r for r in world.errors.records if r.exc_info and "exploded" in str(r.exc_info[1])]
    assert logged, "the traceback went to the log"
    world.errors.records.clear()


# --- long answers, mentions, pings ------------------------------------------------------------


def long_answer(question: str, chars: int) -> Answer:
    sentence = "Mara climbed the ninety steps of the lighthouse and lit the great lamp at dusk. "
    body = (sentence * (chars // len(sentence) + 1))[:chars].rsplit(" ", 1)[0]
    citations = [Citation(n, "lighthouse.txt", 0, 1500, ("lamp " * 300).strip()) for n in range(1, 11)]
    return Answer(question, body, grounded=True, citations=citations, confidence=0.9)


@pytest.mark.parametrize("chars", [4000, 9000])
async def test_long_answers_are_paginated_within_discord_limits(
    world: World, monkeypatch: pytest.MonkeyPatch, chars: int
) -> None:
    async def answer(question: str, *rest: Any) -> Answer:
        return long_answer(question, chars)

    monkeypatch.setattr(world.service, "aask", answer)
    user = world.fake.new_user()
    reply = await world.ask(world.shared, "What did Mara do every evening?", user)
    pages = [reply.embeds[0]]
    while True:
        current = world.fake.message(reply.id)
        turn = next((b for b in current.buttons() if b["custom_id"].endswith(":next")), None)
        if turn is None or turn.get("disabled"):
            break
        clicked = await world.fake.click(current, turn["custom_id"], user=user)
        await world.fake.wait_for(lambda clicked=clicked: clicked.answered_at, what="the page to turn")
        pages.append(world.fake.message(reply.id).embeds[0])
    assert len(pages) >= 2
    assert all(p["footer"]["text"] == f"Page {i}/{len(pages)}" for i, p in enumerate(pages, start=1))
    shown_words = " ".join(p.get("description", "") for p in pages).split()
    assert shown_words == long_answer("", chars).answer.split()  # nothing lost between pages
    assert sum(len(p.get("fields", [])) for p in pages) == 10  # every citation, each on some page


async def test_mention_answers_in_a_thread_and_follow_ups_use_its_history(world: World) -> None:
    user = world.fake.new_user("petra")
    guild = world.shared
    bot_user = world.fake.app.user
    asked = await world.fake.say(
        guild.general, user, f"{bot_user.mention} When will Petro meet Trump?", mentions=(bot_user,)
    )
    thread = await world.fake.wait_for(lambda: world.fake.thread_of(asked), what="a thread")
    assert thread.name == "When will Petro meet Trump?"
    first = await world.fake.bot_message_in(thread.id)
    assert "February 3" in description(first)

    follow_up = await world.fake.say(thread, user, "What topics will they discuss?")
    second = await world.fake.bot_message_in(thread.id, after=follow_up.id)
    assert "drug trade" in description(second)
    assert world.bot.conversations.history(thread.id) == (
        Turn("When will Petro meet Trump?", world.bot.registry.get(custom_key(first)).text),  # type: ignore[union-attr]
        Turn("What topics will they discuss?", world.bot.registry.get(custom_key(second)).text),  # type: ignore[union-attr]
    )
    # Without the thread's history the same words are not enough to answer.
    alone = await world.ask(guild, "What topics will they discuss?")
    assert "The story doesn't say." in description(alone)


async def test_messages_without_a_mention_and_messages_from_bots_are_ignored(world: World) -> None:
    user, other_bot = world.fake.new_user(), world.fake.new_user("another-bot", bot=True)
    guild = world.shared
    bot_user = world.fake.app.user
    ignored = [
        await world.fake.say(guild.general, user, "When will Petro meet Trump?"),
        await world.fake.say(guild.general, user, "@everyone when will Petro meet Trump?"),
        await world.fake.say(guild.general, other_bot, f"{bot_user.mention} when?", mentions=(bot_user,)),
    ]
    last = await world.fake.say(guild.general, user, f"{bot_user.mention} Who will Petro meet?", mentions=(bot_user,))
    thread = await world.fake.wait_for(lambda: world.fake.thread_of(last), what="a thread for the mention")
    await world.fake.bot_message_in(thread.id)
    assert all(world.fake.thread_of(m) is None for m in ignored)
    in_channel = [m for m in world.fake.messages.values() if m.channel_id == guild.general.id and m.id > ignored[0].id]
    assert not [m for m in in_channel if m.author is bot_user]


async def test_a_bare_mention_gets_usage_help_without_a_thread(world: World) -> None:
    user = world.fake.new_user()
    guild = world.shared
    bot_user = world.fake.app.user
    mention = await world.fake.say(guild.general, user, bot_user.mention, mentions=(bot_user,))
    reply = await world.fake.bot_message_in(guild.general.id, after=mention.id)
    assert reply.reference == mention.id
    assert "/ask" in reply.content
    assert world.fake.thread_of(mention) is None


async def test_everyone_and_role_mentions_in_questions_ping_nobody(world: World) -> None:
    user = world.fake.new_user()
    guild = world.shared
    bait = f"@everyone @here <@&{guild.id}> <@{user.id}> when will Petro meet Trump?"
    reply = await world.ask(guild, bait, user)
    assert "@everyone" in reply.embeds[0]["title"]
    bot_user = world.fake.app.user
    mention = await world.fake.say(guild.general, user, f"{bot_user.mention} {bait}", mentions=(bot_user,))
    thread = await world.fake.wait_for(lambda: world.fake.thread_of(mention), what="a thread")
    await world.fake.bot_message_in(thread.id)
    assert world.fake.pings == []  # also checked after every test, with allowed_mentions on every send


async def test_twenty_concurrent_asks_are_all_acknowledged_in_time(world: World) -> None:
    guild = world.shared
    questions = ["When will Petro meet Trump?", "Who is Maduro?", "What is the capital of Peru?", "Who is Petro?"]
    asked: list[FakeInteraction] = await asyncio.gather(
        *(
            world.fake.slash("ask", user=world.fake.new_user(), guild=guild, question=questions[i % len(questions)])
            for i in range(20)
        )
    )
    replies = await asyncio.gather(*(world.fake.reply(a, within=120) for a in asked))
    assert all(a.callback_type == DEFERRED_CHANNEL_MESSAGE for a in asked)
    assert all(a.rejections == [] for a in asked)  # a late ack would be a 10062 rejection
    assert all(r.embeds for r in replies)


# --- DMs, /sources, /help, /summary --------------------------------------------------------


async def test_direct_messages_use_the_default_collection(world: World) -> None:
    reply = await world.ask(None, "When will Petro meet Trump?")
    assert "February 3" in description(reply)
    user = world.fake.new_user()
    dm = await world.fake.dm_channel(user)
    first = await world.fake.say(dm, user, "Where will Trump meet Petro?")
    answer = await world.fake.bot_message_in(dm.id, after=first.id)
    assert "White House" in description(answer)
    follow = await world.fake.say(dm, user, "When?")
    again = await world.fake.bot_message_in(dm.id, after=follow.id)
    assert "February 3" in description(again)


async def test_sources_lists_the_bundled_story_for_a_new_guild(world: World) -> None:
    asked = await world.fake.slash("sources", user=world.fake.new_user(), guild=world.shared)
    reply = await world.fake.reply(asked)
    assert reply.ephemeral
    assert STORY.source in description(reply)


async def test_help_explains_how_to_ask(world: World) -> None:
    asked = await world.fake.slash("help", user=world.fake.new_user(), guild=world.shared)
    reply = await world.fake.reply(asked)
    assert reply.ephemeral
    assert "/ask" in description(reply)
    assert "/docs add" in description(reply)


@pytest.mark.parametrize("mode", list(SUMMARY_MODES))
async def test_summary_in_every_mode_is_cited(world: World, mode: str) -> None:
    guild, user = world.shared, world.fake.new_user()
    asked = await world.fake.slash("summary", user=user, guild=guild, mode=mode)
    reply = await world.fake.reply(asked, within=120)
    assert asked.callback_type == DEFERRED_CHANNEL_MESSAGE
    embed = reply.embeds[0]
    assert embed["title"].startswith(f"Summary: {SUMMARY_MODES[mode]}")
    shown = world.bot.registry.get(custom_key(reply))
    assert shown is not None
    assert shown.citations, "a summary cites its sources"
    text = STORY.text
    for citation in shown.citations:
        assert text[citation.start : citation.end] == citation.passage
    assert re.search(r"\[\d+\]", description(reply))


# --- /docs ------------------------------------------------------------------------------------


async def add_document(world: World, guild: FakeGuild, admin: FakeUser, name: str, text: str) -> FakeMessage:
    upload = world.fake.attachment(name, text.encode())
    asked = await world.fake.slash("docs add", user=admin, guild=guild, permissions=ADMIN, file=upload)
    return await world.fake.reply(asked, within=120)


async def test_an_admin_adds_a_document_and_questions_are_answered_from_it(world: World) -> None:
    admin = world.fake.new_user("admin")
    guild = await world.guild("docs", admin)
    before = await world.ask(guild, "Who lit the great lamp of the lighthouse?")  # the sample story can't say
    assert "The story doesn't say." in description(before)

    added = await add_document(world, guild, admin, "lighthouse.txt", LIGHTHOUSE)
    assert added.ephemeral
    assert "Added **lighthouse.txt**" in added.content
    assert "replaces the bundled sample story" in added.content

    after = await world.ask(guild, "Who lit the great lamp of the lighthouse?")
    assert "Mara" in description(after)
    assert after.embeds[0]["fields"][0]["name"] == "[1] lighthouse.txt"

    listed = await world.fake.reply(await world.fake.slash("sources", user=admin, guild=guild))
    assert "lighthouse.txt" in description(listed)
    assert STORY.source not in description(listed)


async def test_members_without_manage_server_cannot_add_documents(world: World) -> None:
    member = world.fake.new_user("member")
    guild = await world.guild("no-admin", member)
    upload = world.fake.attachment("lighthouse.txt", LIGHTHOUSE.encode())
    asked = await world.fake.slash("docs add", user=member, guild=guild, permissions=MEMBER, file=upload)
    reply = await world.fake.reply(asked)
    assert reply.ephemeral
    assert "Manage Server" in reply.content
    assert world.service.sources(f"guild-{guild.id}") == []  # nothing was indexed


async def test_the_docs_commands_are_hidden_from_members_by_default(world: World) -> None:
    docs = next(c for c in world.fake.app.global_commands if c["name"] == "docs")
    assert int(docs["default_member_permissions"]) == MANAGE_GUILD
    assert docs["dm_permission"] is False  # servers only


@pytest.mark.parametrize(
    ("name", "size", "message"),
    [("story.exe", 100, "please upload one of"), ("huge.txt", 50_000_000, "the limit is")],
)
async def test_unsupported_or_oversized_uploads_are_refused_before_download(
    world: World, name: str, size: int, message: str
) -> None:
    admin = world.fake.new_user()
    guild = await world.guild("uploads", admin)
    upload = world.fake.attachment(name, b"some text", size=size)
    asked = await world.fake.slash("docs add", user=admin, guild=guild, permissions=ADMIN, file=upload)
    reply = await world.fake.reply(asked)
    assert reply.ephemeral
    assert message in reply.content


async def test_documents_are_removed_with_autocomplete_and_listed(world: World) -> None:
    admin = world.fake.new_user()
    guild = await world.guild("remove", admin)
    await add_document(world, guild, admin, "lighthouse.txt", LIGHTHOUSE)
    await add_document(world, guild, admin, "harbour-notes.md", "# Notes\n\nThe harbour master is Ada Finch.")

    typed = await world.fake.autocomplete("docs remove", "source", "light", user=admin, guild=guild, permissions=ADMIN)
    await world.fake.wait_for(lambda: typed.choices is not None, what="autocomplete choices")
    assert typed.choices == [{"name": "lighthouse.txt", "value": "lighthouse.txt"}]

    removed = await world.fake.reply(
        await world.fake.slash("docs remove", user=admin, guild=guild, permissions=ADMIN, source="lighthouse.txt")
    )
    assert "Removed **lighthouse.txt**" in removed.content
    listed = await world.fake.reply(await world.fake.slash("docs list", user=admin, guild=guild, permissions=ADMIN))
    assert "harbour-notes.md" in description(listed)
    assert "lighthouse.txt" not in description(listed)

    unknown = await world.fake.reply(
        await world.fake.slash("docs remove", user=admin, guild=guild, permissions=ADMIN, source="nope.txt")
    )
    assert "no document named 'nope.txt'" in unknown.content


async def test_no_guild_ever_sees_another_guilds_documents(world: World) -> None:
    admin_a, admin_b = world.fake.new_user("a"), world.fake.new_user("b")
    guild_a, guild_b = await world.guild("A", admin_a), await world.guild("B", admin_b)
    await add_document(world, guild_a, admin_a, "lighthouse.txt", LIGHTHOUSE)

    in_a = await world.ask(guild_a, "Which trawler ran aground on the northern reef?")
    in_b = await world.ask(guild_b, "Which trawler ran aground on the northern reef?")
    assert "Silver Heron" in description(in_a)
    assert "The story doesn't say." in description(in_b)

    typed = await world.fake.autocomplete("docs remove", "source", "", user=admin_b, guild=guild_b, permissions=ADMIN)
    await world.fake.wait_for(lambda: typed.choices is not None, what="autocomplete choices")
    assert all(c["value"] in DEFAULT_CORPUS_FILES for c in typed.choices or [])


# --- start-up variants: a dev guild, shards ------------------------------------------------


async def test_a_dev_guild_gets_its_commands_synced_instantly(world: World) -> None:
    app = world.fake.add_app("dev-bot")
    guild = await world.guild("dev", apps=(app,))
    settings = world.settings.model_copy(update={"dev_guild": str(guild.id)})
    bot = build_bot(settings, world.service, warm_up=False, guild_ready_timeout=0.05)
    running = asyncio.create_task(bot.start(app.token))
    try:
        await asyncio.wait_for(bot.wait_until_ready(), 60)
        assert [guild_id for guild_id, _ in app.command_puts] == [guild.id]
        assert {c["name"] for c in app.guild_commands[guild.id]} == {"ask", "summary", "sources", "help", "docs"}
        asked = await world.fake.slash(
            "ask", user=world.fake.new_user(), guild=guild, app=app, question="Who is Petro?"
        )
        assert "Petro" in description(await world.fake.reply(asked))
    finally:
        await bot.close()
        await running


def snowflake_on_shard(fake: FakeDiscord, shard: int, count: int) -> int:
    """A new guild id that Discord routes to the given shard."""
    while True:
        candidate = fake.ids.next()
        if (candidate >> 22) % count == shard:
            return candidate


async def test_a_sharded_bot_answers_on_every_shard(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    async def identify_at_once(self: object, shard_id: int | None, *, initial: bool = False) -> None:
        """The fake has no identify rate limit; discord.py would wait 5 s between shards."""

    monkeypatch.setattr(ShardedStoryBot, "before_identify_hook", identify_at_once)
    app = world.fake.add_app("sharded-bot", shards=2)
    settings = world.settings.model_copy(update={"shards": 2})
    bot = build_bot(settings, world.service, warm_up=False, guild_ready_timeout=0.05)
    running = asyncio.create_task(bot.start(app.token))
    try:
        await asyncio.wait_for(bot.wait_until_ready(), 60)
        shards = sorted(tuple(i["shard"]) for i in world.fake.identifies if i["token"] == app.token)
        assert shards == [(0, 2), (1, 2)]
        for shard in (0, 1):
            guild_id = snowflake_on_shard(world.fake, shard, 2)
            guild = await world.fake.add_guild(f"shard-{shard}", apps=(app,), guild_id=guild_id)
            asked = await world.fake.slash(
                "ask", user=world.fake.new_user(), guild=guild, app=app, question="Who is Petro?"
            )
            assert "Petro" in description(await world.fake.reply(asked))
    finally:
        await bot.close()
        await running
