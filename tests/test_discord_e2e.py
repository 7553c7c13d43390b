"""End to end: the real discord.py client, the real answer core (MiniLM, Chroma), a fake Discord.

One bot serves the whole module; each test works in guilds and with users of its own, so tests
do not depend on each other. After every test the fake must have refused nothing, delivered no
ping, seen every message sent with ``allowed_mentions`` none, and the ``discord`` and
``storybot`` loggers must have logged no error (a missing key in a gateway event can otherwise
stop discord.py silently).

Questions are about small stories indexed for the tests: the shared guild and the default
collection (which answers direct messages, and guilds without documents of their own) hold the
ferry story. What the bundled sample answers is tests/test_seed_story.py's; state across restarts,
on SQLite and PostgreSQL, is tests/test_discord_conversations.py's.
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
from sqlalchemy import delete

from bot.answering.data import Answer, Citation
from bot.discord.client import ShardedStoryBot, build_bot
from bot.discord.render import SUMMARY_MODES
from bot.discord.shown import Shown
from bot.logs import KeyValueFormatter
from bot.state.schema import answers
from index.corpus import default_corpus
from index.embeddings import MiniLMEmbeddings
from index.loaders import LoadedDocument
from tests.discord_harness import (
    FERRY,
    BotWorld,
    answer_id,
    bot_on_fake_discord,
    discord_rules_kept,
    running_bot,
    saved_answer,
)
from tests.fake_discord import (
    ADMIN,
    CHANNEL_MESSAGE,
    DEFERRED_CHANNEL_MESSAGE,
    MANAGE_GUILD,
    MEMBER,
    CommandNotOffered,
    FakeDiscord,
    FakeGuild,
    FakeInteraction,
    FakeMessage,
    FakeUser,
    description,
    eventually,
    footer,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

SAMPLE = default_corpus()[0]  # the bundled sample, which the warm-up puts in the default collection
DATE_QUESTION = "When will Ines Calloway meet Tomas Brandt?"
LIGHTHOUSE = (
    "The Lighthouse at Gull Point\n\n"
    "Every evening at dusk, the keeper Mara Quill climbed the ninety steps of the lighthouse and lit the great lamp. "
    "Her brother Tobias repaired the fishing nets on the pier below. "
    "In the winter of the great storm, a trawler called the Silver Heron ran aground on the northern reef, "
    "and Mara rowed out alone to rescue its crew of six."
)
HARBOUR_NOTES = "# Notes\n\nThe harbour master is Ada Finch."


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
class World(BotWorld):
    shared: FakeGuild  # for tests that need no isolation: it holds the ferry story

    async def ask(self, guild: FakeGuild | None, question: str, user: FakeUser | None = None) -> FakeMessage:
        asked = await self.fake.slash("ask", user=user or self.fake.new_user(), guild=guild, question=question)
        return await self.fake.reply(asked)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(embeddings: MiniLMEmbeddings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    settings = {"ask_cooldown_uses": 3, "ask_cooldown_seconds": 3600}
    async with bot_on_fake_discord(embeddings, tmp_path_factory.mktemp("discord-data"), settings=settings) as started:
        shared = await started.guild("shared", documents=(FERRY,))
        # Direct messages, and guilds without documents, use the default collection: the ferry
        # story instead of the sample here.
        await asyncio.to_thread(started.service.index_document, FERRY)
        await asyncio.to_thread(started.service.remove, SAMPLE.source)
        yield World.over(started, shared=shared)


@pytest.fixture(autouse=True)
def discord_hygiene(world: World) -> Iterator[None]:
    """Every test must leave Discord's rules unbroken."""
    with discord_rules_kept(world.fake, world.errors):
        yield


async def saved(world: World, message: FakeMessage) -> Shown:
    """The answer behind a message, as the database keeps it (attached to the message)."""
    shown = await saved_answer(world.database, message)
    assert shown.answer_id == answer_id(message)
    return shown


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
    asked = await world.fake.slash("ask", user=world.fake.new_user(), guild=guild, question=DATE_QUESTION)
    reply = await world.fake.reply(asked)

    assert asked.callback_type == DEFERRED_CHANNEL_MESSAGE  # acknowledged before answering
    assert not reply.ephemeral
    embed = reply.embeds[0]
    assert embed["title"] == DATE_QUESTION
    assert "March 14" in embed["description"]
    assert "fields" not in embed  # each quote is shown once, in the answer itself
    assert embed["footer"]["text"].startswith(f"{FERRY.source} [1]")
    quote = re.search(r"“(.+?)…?” \[1\]", embed["description"])
    assert quote is not None
    assert quote.group(1)[:80] in FERRY.text.replace("\n", " ")
    assert threads, "the answer was computed"
    assert threading.get_ident() not in threads, "the answer was computed on the event loop"

    shown = await saved(world, reply)
    citation = shown.citations[0]
    text = world.service.store(f"guild-{guild.id}").document_text(citation.source)
    assert text is not None
    assert text[citation.start : citation.end] == citation.passage
    assert "March 14" in citation.passage

    await asyncio.wait_for(logged.seen.wait(), 30)  # logged just after the answer is sent
    logging.getLogger("storybot.discord").removeHandler(logged)
    [line] = logged.lines
    assert f"guild={guild.id}" in line
    assert re.search(r"latency_ms=\d+\.\d", line)
    assert f"passages={FERRY.source}@{citation.start}-{citation.end}" in line


async def test_a_question_the_story_does_not_answer_is_refused_plainly(world: World) -> None:
    guild = world.shared
    reply = await world.ask(guild, "What is the boiling point of mercury in Kelvin?")
    embed = reply.embeds[0]
    assert "The story doesn't say." in embed["description"]
    assert "fields" not in embed or embed["fields"] == []  # no quote passed off as an answer
    assert "“" not in embed["description"]
    assert not any("Show passage" in (b.get("label") or "") for b in reply.buttons())

    # The closest passage is there for the curious, behind a button and labelled as not an answer.
    user = world.fake.new_user()
    clicked = await world.fake.click(reply, reply.custom_id("Closest passage (not an answer)"), user=user)
    closest = await world.fake.reply(clicked)
    assert closest.ephemeral
    assert closest.embeds[0]["title"].startswith(f"Closest passage (not an answer): {FERRY.source}")
    assert "it does not answer the question" in closest.embeds[0]["description"]


@pytest.mark.parametrize("question", ["", "   \n\t ", "x" * 1001, "?!?"])
async def test_bad_questions_get_a_clear_ephemeral_error(world: World, question: str) -> None:
    asked = await world.fake.slash("ask", user=world.fake.new_user(), guild=world.shared, question=question)
    reply = await world.fake.reply(asked)
    assert asked.callback_type == CHANNEL_MESSAGE  # answered at once, never deferred
    assert reply.ephemeral
    assert reply.content.startswith("Please")


async def test_questions_refused_before_answering_use_no_cooldown_slot(world: World) -> None:
    guild, user = world.shared, world.fake.new_user()
    for bad in ("", "   ", "x" * 1001):
        refused = await world.fake.reply(await world.fake.slash("ask", user=user, guild=guild, question=bad))
        assert refused.content.startswith("Please")
    for _ in range(world.settings.ask_cooldown_uses):
        assert "March 14" in description(await world.ask(guild, DATE_QUESTION, user))
    slow = await world.fake.reply(await world.fake.slash("ask", user=user, guild=guild, question=DATE_QUESTION))
    assert slow.content.startswith("Slow down a little")


async def test_the_question_length_limits_are_declared_to_discord(world: World) -> None:
    ask = next(c for c in world.fake.app.global_commands if c["name"] == "ask")
    [question] = ask["options"]
    assert (question["min_length"], question["max_length"]) == (1, world.settings.max_question_chars)


async def test_asking_too_often_meets_a_friendly_cooldown(world: World) -> None:
    guild, user = world.shared, world.fake.new_user()
    for _ in range(world.settings.ask_cooldown_uses):
        await world.ask(guild, DATE_QUESTION, user)
    asked = await world.fake.slash("ask", user=user, guild=guild, question=DATE_QUESTION)
    reply = await world.fake.reply(asked)
    assert reply.ephemeral
    assert reply.content.startswith("Slow down a little: you can ask again in")
    other = await world.ask(guild, DATE_QUESTION)  # other users are unaffected
    assert "March 14" in description(other)


async def test_show_passage_reveals_the_full_passage_with_context_to_the_clicker_only(world: World) -> None:
    guild, user = world.shared, world.fake.new_user()
    reply = await world.ask(guild, "What did Calloway dare the ferry company to do?", user)
    clicked = await world.fake.click(reply, reply.custom_id("Show passage [1]"), user=user)
    shown = await world.fake.reply(clicked)
    assert shown.ephemeral
    passage = await saved(world, reply)
    embed = shown.embeds[0]
    assert f"**{passage.citations[0].passage}**" in embed["description"].replace("\\", "")
    assert len(embed["description"]) > len(passage.citations[0].passage) + 4  # some context around it
    assert embed["footer"]["text"].startswith(f"characters {passage.citations[0].start}–")


async def test_a_web_page_passage_is_shown_under_its_title_with_its_address(world: World) -> None:
    user = world.fake.new_user()
    guild = await world.guild("web-passage", user)
    title, url = "Gull Point keeper rows out in the great storm", "https://news.example/coast/gull-point"
    page = LoadedDocument("gull-point-keeper-rows-out.html", LIGHTHOUSE, title=title, url=url)
    await asyncio.to_thread(world.service.index_document, page, f"guild-{guild.id}")
    link = f"🔗 [{title}]({url})"

    reply = await world.ask(guild, "How many steps did Mara Quill climb?", user)
    assert link in description(reply)  # the answer names and links the page…
    clicked = await world.fake.click(reply, reply.custom_id("Show passage [1]"), user=user)
    [embed] = (await world.fake.reply(clicked)).embeds
    assert embed["title"] == f"[1] {title}"  # …and so does its passage: not by the file name
    assert "**Every evening at dusk, the keeper Mara Quill climbed the ninety steps" in embed["description"]
    assert embed["description"].endswith(f"\n\n{link}")
    assert embed["footer"]["text"].endswith(f" of {title}")

    refused = await world.ask(guild, "What colour is the Silver Heron painted?", user)
    clicked = await world.fake.click(refused, refused.custom_id("Closest passage"), user=user)
    [embed] = (await world.fake.reply(clicked)).embeds
    assert embed["title"] == f"Closest passage (not an answer): {title}"
    assert embed["description"].endswith(f"\n\n{link}")


async def test_votes_are_stored_with_the_answer_and_a_hashed_user_id(world: World) -> None:
    guild, user = world.shared, world.fake.new_user()
    reply = await world.ask(guild, DATE_QUESTION, user)
    clicked = await world.fake.click(reply, reply.custom_id("👍"), user=user)
    thanks = await world.fake.reply(clicked)
    assert thanks.ephemeral
    assert thanks.content.startswith("Thanks")

    [vote] = world.database.votes_for(answer_id(reply))
    assert vote.vote == 1
    assert vote.message_id == str(reply.id)
    assert vote.user_hash == world.bot.hash_user(user.id)
    assert str(user.id) not in vote.user_hash
    answer = world.database.get_answer(vote.answer_id)
    assert answer is not None
    assert answer.question == DATE_QUESTION
    assert "March 14" in answer.payload["answer"]
    assert answer.payload["citations"][0]["source"] == FERRY.source
    assert not (world.settings.resolved_data_dir() / "feedback" / "votes.jsonl").exists()


async def test_buttons_of_an_answer_that_is_gone_are_disabled_with_a_note(world: World) -> None:
    guild, user = world.shared, world.fake.new_user()
    reply = await world.ask(guild, DATE_QUESTION, user)
    with world.database.engine.begin() as connection:  # as retention does, or a database restore
        connection.execute(delete(answers).where(answers.c.answer_id == answer_id(reply)))
    clicked = await world.fake.click(reply, reply.custom_id("👎"), user=user)
    await world.fake.wait_for(lambda: clicked.answered_at, what="the message to be edited")
    edited = world.fake.message(reply.id)
    assert "expired" in edited.content
    assert edited.buttons()
    assert all(button.get("disabled") for button in edited.buttons())
    assert edited.embeds == reply.embeds  # the answer itself stays readable


async def test_unexpected_failures_are_logged_and_the_user_gets_an_apology(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Answer:
        raise RuntimeError("index exploded")

    monkeypatch.setattr(world.service, "aask", broken)
    reply = await world.ask(world.shared, DATE_QUESTION)
    assert reply.ephemeral  # the public "thinking…" placeholder made way for a private note
    assert reply.content.startswith("Sorry, something went wrong")
    assert "exploded" not in reply.content
    assert "Traceback" not in reply.content
    logged = [r for r in world.errors.records if r.exc_info and "exploded" in str(r.exc_info[1])]
    assert logged, "the traceback went to the log"
    world.errors.records.clear()


# --- long answers, mentions, pings ------------------------------------------------------------


def long_answer(question: str, chars: int) -> Answer:
    """A model's long answer (its own words are shown, then the quotes)."""
    sentence = "Mara climbed the ninety steps of the lighthouse and lit the great lamp at dusk. "
    body = (sentence * (chars // len(sentence) + 1))[:chars].rsplit(" ", 1)[0]
    citations = [Citation(n, "lighthouse.txt", 0, 1500, ("lamp " * 300).strip()) for n in range(1, 11)]
    return Answer(question, body, grounded=True, citations=citations, confidence=0.9, mode="llm")


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
    current = reply
    while True:  # the first click opens a private copy; its own buttons turn its pages in place
        turn = next((b for b in current.buttons() if b["custom_id"].endswith(":next")), None)
        if turn is None or turn.get("disabled"):
            break
        clicked = await world.fake.click(current, turn["custom_id"], user=user)
        await world.fake.wait_for(lambda clicked=clicked: clicked.answered_at, what="the page to turn")
        current = clicked.followups[0] if clicked.followups else world.fake.message(current.id)
        assert current.ephemeral
        pages.append(world.fake.message(current.id).embeds[0])
        current = world.fake.message(current.id)
    assert len(pages) >= 2
    assert all(p["footer"]["text"].endswith(f"Page {i}/{len(pages)}") for i, p in enumerate(pages, start=1))
    shown_words = " ".join(p.get("description", "") for p in pages).split()
    body_words = long_answer("", chars).answer.split()
    assert shown_words[: len(body_words)] == body_words  # nothing lost between pages
    shown = " ".join(p.get("description", "") for p in pages)
    assert all(f"[{n}]" in shown for n in range(1, 11))  # every citation, each on some page
    assert world.fake.message(reply.id).embeds == reply.embeds  # the public message never turned


async def test_mention_answers_in_a_thread_and_follow_ups_use_its_history(world: World) -> None:
    user = world.fake.new_user("petra")
    guild = world.shared
    bot_user = world.fake.app.user
    asked = await world.fake.say(
        guild.general, user, f"{bot_user.mention} Where will Brandt meet Calloway?", mentions=(bot_user,)
    )
    thread = await world.fake.wait_for(lambda: world.fake.thread_of(asked), what="a thread")
    assert thread.name == "Where will Brandt meet Calloway?"
    first = await world.fake.bot_message_in(thread.id)
    assert "town hall" in description(first)

    follow_up = await world.fake.say(thread, user, "When?")
    second = await world.fake.bot_message_in(thread.id, after=follow_up.id)
    assert "March 14" in description(second)
    assert second.reference == follow_up.id  # in a thread, an answer replies to the message it answers
    first_text, second_text = (await saved(world, first)).text, (await saved(world, second)).text
    turns = await eventually(lambda: world.database.recent_turns(str(thread.id))[1:], "the second turn")
    assert [(t.question, t.answer_text, t.answer_id) for t in world.database.recent_turns(str(thread.id))] == [
        ("Where will Brandt meet Calloway?", first_text, answer_id(first)),
        ("When?", second_text, answer_id(second)),
    ]
    assert turns
    # Without the thread's history the same words are not enough to answer.
    alone = await world.ask(guild, "When?")
    assert "The story doesn't say." in description(alone)


async def test_messages_without_a_mention_and_messages_from_bots_are_ignored(world: World) -> None:
    user, other_bot = world.fake.new_user(), world.fake.new_user("another-bot", bot=True)
    guild = world.shared
    bot_user = world.fake.app.user
    ignored = [
        await world.fake.say(guild.general, user, DATE_QUESTION),
        await world.fake.say(guild.general, user, "@everyone when will Calloway meet Brandt?"),
        await world.fake.say(guild.general, other_bot, f"{bot_user.mention} when?", mentions=(bot_user,)),
    ]
    last = await world.fake.say(
        guild.general, user, f"{bot_user.mention} Who will Calloway meet?", mentions=(bot_user,)
    )
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
    bait = f"@everyone @here <@&{guild.id}> <@{user.id}> when will Calloway meet Brandt?"
    reply = await world.ask(guild, bait, user)
    assert reply.embeds[0]["title"] == "when will Calloway meet Brandt?"  # markup is not part of the question
    bot_user = world.fake.app.user
    mention = await world.fake.say(guild.general, user, f"{bot_user.mention} {bait}", mentions=(bot_user,))
    thread = await world.fake.wait_for(lambda: world.fake.thread_of(mention), what="a thread")
    await world.fake.bot_message_in(thread.id)
    assert world.fake.pings == []  # also checked after every test, with allowed_mentions on every send


async def test_twenty_concurrent_asks_are_all_acknowledged_in_time(world: World) -> None:
    guild = world.shared
    questions = [DATE_QUESTION, "Who is Hana Ostrova?", "What is the capital of Peru?", "Who is Tomas Brandt?"]
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
    reply = await world.ask(None, DATE_QUESTION)
    assert "March 14" in description(reply)
    user = world.fake.new_user()
    dm = await world.fake.dm_channel(user)
    first = await world.fake.say(dm, user, "Where will Brandt meet Calloway?")
    answer = await world.fake.bot_message_in(dm.id, after=first.id)
    assert "town hall" in description(answer)
    follow = await world.fake.say(dm, user, "When?")
    again = await world.fake.bot_message_in(dm.id, after=follow.id)
    assert "March 14" in description(again)


async def test_a_guild_without_documents_is_answered_from_the_default_collection(world: World) -> None:
    """Here the default collection holds the ferry story (in production, the bundled sample):
    a new guild's answers come from it, /sources says so plainly, and nothing is copied into the
    guild's own collection."""
    guild = await world.guild("no-documents")
    reply = await world.ask(guild, DATE_QUESTION)
    assert "March 14" in description(reply)
    assert footer(reply).startswith(FERRY.source)
    listed = await world.fake.reply(await world.fake.slash("sources", user=world.fake.new_user(), guild=guild))
    assert listed.ephemeral
    assert "This server hasn't added any documents" in description(listed)
    assert FERRY.source in description(listed)
    assert world.service.sources(f"guild-{guild.id}") == []  # the default is never copied in


async def test_help_explains_how_to_ask(world: World) -> None:
    asked = await world.fake.slash("help", user=world.fake.new_user(), guild=world.shared)
    reply = await world.fake.reply(asked)
    assert reply.ephemeral
    assert "/ask" in description(reply)
    assert "/docs add" in description(reply)
    assert "`/settings`" in description(reply)
    assert "`/stats`" in description(reply)


@pytest.mark.parametrize("mode", list(SUMMARY_MODES))
async def test_summary_in_every_mode_is_cited(world: World, mode: str) -> None:
    guild, user = world.shared, world.fake.new_user()
    asked = await world.fake.slash("summary", user=user, guild=guild, mode=mode)
    reply = await world.fake.reply(asked, within=120)
    assert asked.callback_type == DEFERRED_CHANNEL_MESSAGE
    embed = reply.embeds[0]
    assert embed["title"].startswith(f"Summary: {SUMMARY_MODES[mode]}")
    shown = await saved(world, reply)
    assert shown.kind == "summary"
    assert shown.citations, "a summary cites its sources"
    for citation in shown.citations:
        assert citation.source == FERRY.source
        assert FERRY.text[citation.start : citation.end] == citation.passage
    assert re.search(r"\[\d+\]", description(reply))


# --- /docs ------------------------------------------------------------------------------------


async def add_document(world: World, guild: FakeGuild, admin: FakeUser, name: str, text: str) -> FakeMessage:
    upload = world.fake.attachment(name, text.encode())
    asked = await world.fake.slash("docs add", user=admin, guild=guild, permissions=ADMIN, file=upload)
    return await world.fake.reply(asked, within=120)


async def test_an_admin_adds_a_document_and_questions_are_answered_from_it(world: World) -> None:
    admin = world.fake.new_user("admin")
    guild = await world.guild("docs", admin)
    fallback = await world.fake.reply(await world.fake.slash("sources", user=admin, guild=guild))
    assert "hasn't added any documents" in description(fallback)  # no documents yet: the default collection
    before = await world.ask(guild, "Who lit the great lamp of the lighthouse?")  # the ferry story can't say
    assert "Mara" not in description(before)

    added = await add_document(world, guild, admin, "lighthouse.txt", LIGHTHOUSE)
    assert added.ephemeral
    assert "Added **lighthouse.txt**" in added.content

    after = await world.ask(guild, "Who lit the great lamp of the lighthouse?")
    assert "Mara" in description(after)
    assert footer(after) == "lighthouse.txt [1]"

    listed = await world.fake.reply(await world.fake.slash("sources", user=admin, guild=guild))
    assert "lighthouse.txt" in description(listed)
    assert "hasn't added" not in description(listed)
    assert FERRY.source not in description(listed)
    assert [info.source for info in world.service.sources(f"guild-{guild.id}")] == ["lighthouse.txt"]


async def test_discord_decides_who_may_add_documents(world: World) -> None:
    """/docs declares Manage Server as its default permission, so Discord does not offer it to
    other members; once an admin opens it to them (Server Settings → Integrations), the bot lets
    them use it instead of contradicting the override with a check of its own."""
    member = world.fake.new_user("member")
    guild = await world.guild("no-admin", member)
    upload = world.fake.attachment("lighthouse.txt", LIGHTHOUSE.encode())
    with pytest.raises(CommandNotOffered):
        await world.fake.slash("docs add", user=member, guild=guild, permissions=MEMBER, file=upload)
    assert world.service.sources(f"guild-{guild.id}") == []  # nothing was indexed

    guild.opened_commands.add("docs")
    asked = await world.fake.slash("docs add", user=member, guild=guild, permissions=MEMBER, file=upload)
    reply = await world.fake.reply(asked, within=120)
    assert reply.ephemeral
    assert "Added **lighthouse.txt**" in reply.content
    assert [info.source for info in world.service.sources(f"guild-{guild.id}")] == ["lighthouse.txt"]


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
    await add_document(world, guild, admin, "harbour-notes.md", HARBOUR_NOTES)

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

    last = await world.fake.reply(
        await world.fake.slash("docs remove", user=admin, guild=guild, permissions=ADMIN, source="harbour-notes.md")
    )
    assert "No documents are left, so answers come from the bot's default documents again." in last.content
    typed = await world.fake.autocomplete("docs remove", "source", "", user=admin, guild=guild, permissions=ADMIN)
    await world.fake.wait_for(lambda: typed.choices is not None, what="autocomplete choices")
    assert typed.choices == []  # the collection it falls back to is not the server's to remove
    listed = await world.fake.reply(await world.fake.slash("docs list", user=admin, guild=guild, permissions=ADMIN))
    assert "hasn't added any documents" in description(listed)
    again = await world.ask(guild, DATE_QUESTION)  # answered from the default collection again
    assert "March 14" in description(again)


async def test_no_guild_ever_sees_another_guilds_documents(world: World) -> None:
    admin_a, admin_b = world.fake.new_user("a"), world.fake.new_user("b")
    guild_a, guild_b = await world.guild("A", admin_a), await world.guild("B", admin_b)
    await add_document(world, guild_a, admin_a, "lighthouse.txt", LIGHTHOUSE)
    await add_document(world, guild_b, admin_b, "harbour-notes.md", HARBOUR_NOTES)

    in_a = await world.ask(guild_a, "Which trawler ran aground on the northern reef?")
    in_b = await world.ask(guild_b, "Which trawler ran aground on the northern reef?")
    assert "Silver Heron" in description(in_a)
    assert "The story doesn't say." in description(in_b)

    typed = await world.fake.autocomplete("docs remove", "source", "", user=admin_b, guild=guild_b, permissions=ADMIN)
    await world.fake.wait_for(lambda: typed.choices is not None, what="autocomplete choices")
    assert [c["value"] for c in typed.choices or []] == ["harbour-notes.md"]  # its own, never guild A's


# --- start-up variants: a dev guild, shards ------------------------------------------------


async def test_a_dev_guild_gets_its_commands_synced_instantly(world: World) -> None:
    app = world.fake.add_app("dev-bot")
    guild = await world.guild("dev", apps=(app,))
    settings = world.settings.model_copy(update={"dev_guild": str(guild.id)})
    bot = build_bot(settings, world.service, world.database, warm_up=False, guild_ready_timeout=0.05)
    async with running_bot(bot, app.token, within=60):
        assert [guild_id for guild_id, _ in app.command_puts] == [guild.id]
        synced = {c["name"] for c in app.guild_commands[guild.id]}
        assert {"ask", "summary", "sources", "help", "docs", "settings", "stats"} <= synced
        await asyncio.to_thread(world.service.index_document, FERRY, f"guild-{guild.id}")
        asked = await world.fake.slash(
            "ask", user=world.fake.new_user(), guild=guild, app=app, question="Who is Tomas Brandt?"
        )
        assert "Brandt" in description(await world.fake.reply(asked))


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
    bot = build_bot(settings, world.service, world.database, warm_up=False, guild_ready_timeout=0.05)
    async with running_bot(bot, app.token, within=60):
        shards = sorted(tuple(i["shard"]) for i in world.fake.identifies if i["token"] == app.token)
        assert shards == [(0, 2), (1, 2)]
        for shard in (0, 1):
            guild_id = snowflake_on_shard(world.fake, shard, 2)
            guild = await world.fake.add_guild(f"shard-{shard}", apps=(app,), guild_id=guild_id)
            await asyncio.to_thread(world.service.index_document, FERRY, f"guild-{guild.id}")
            asked = await world.fake.slash(
                "ask", user=world.fake.new_user(), guild=guild, app=app, question="Who is Tomas Brandt?"
            )
            assert "Brandt" in description(await world.fake.reply(asked))
