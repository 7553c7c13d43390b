"""Reliability through Discord: gateway faults and hostile input, with the real bot on the fake.

The real discord.py client and answer core run against ``tests/fake_discord.py``. The fake makes
the gateway misbehave (Reconnect, Invalid Session, closes, dropped TCP) and the bot must come back
(RESUME where it can, IDENTIFY where it must) and answer the next ``/ask``. Then hostile questions
(``tests/hostile.py``) go in as ``/ask`` and as mentions, and hostile files through ``/docs add``:
every one must be answered or politely refused, with nothing refused by Discord, no ping, no
traceback shown and no error logged. Assertions are on what the fake saw, never on timing.
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio

from bot.discord.chitchat import is_chit_chat
from bot.discord.client import StoryBot
from bot.discord.errors import UNEXPECTED
from index.embeddings import MiniLMEmbeddings
from tests.discord_harness import BotWorld, bot_on_fake_discord, discord_rules_kept
from tests.fake_discord import (
    ADMIN,
    CHANNEL_MESSAGE,
    DEFERRED_CHANNEL_MESSAGE,
    FakeGuild,
    FakeInteraction,
    FakeMessage,
    FakeUser,
    description,
)
from tests.hostile import REAL_ANSWER, REAL_QUESTION, REAL_STORY, SEEDS, hostile_files, hostile_questions, kind_of

pytestmark = pytest.mark.asyncio(loop_scope="module")

WAIT = 120.0  # seconds: a safety net for a hung bot, not a performance assertion
BATCH = 8  # interactions in flight at once (load is bench/discord_load.py's job)
TRACEBACK_MARKS = ("Traceback", 'File "')


@dataclass
class World(BotWorld):
    story_guild: FakeGuild  # holds the story the real question asks about


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(embeddings: MiniLMEmbeddings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    async def identify_at_once(self: object, shard_id: int | None, *, initial: bool = False) -> None:
        """The fake has no identify rate limit; discord.py would wait 5 s before identifying again."""

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(StoryBot, "before_identify_hook", identify_at_once)
        async with bot_on_fake_discord(embeddings, tmp_path_factory.mktemp("reliability-discord")) as started:
            story_guild = await started.guild("reliability", documents=(REAL_STORY,), within=WAIT)
            yield World.over(started, story_guild=story_guild)


def strings(value: Any) -> Iterator[str]:
    """Every string in a JSON-like payload."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


@pytest.fixture(autouse=True)
def discord_hygiene(world: World) -> Iterator[None]:
    """Nothing refused by Discord, no ping, no mention parsing, no traceback shown, no error logged."""
    fake = world.fake
    sent = len(fake.sent)
    with discord_rules_kept(fake, world.errors):
        yield
        for route, payload in fake.sent[sent:]:
            shown = [s for s in strings(payload) if any(mark in s for mark in TRACEBACK_MARKS)]
            assert shown == [], f"{route} shows a traceback to users"


async def ask_and_expect_a_cited_answer(world: World) -> None:
    """The next /ask after a fault: deferred, then answered from the story with a citation."""
    asked = await world.fake.slash("ask", user=world.fake.new_user(), guild=world.story_guild, question=REAL_QUESTION)
    reply = await world.fake.reply(asked, within=WAIT)
    assert asked.callback_type == DEFERRED_CHANNEL_MESSAGE
    assert asked.rejections == []
    assert not reply.ephemeral
    assert REAL_ANSWER in description(reply)
    assert "[1]" in description(reply)  # the quote, marked with its citation
    assert reply.embeds[0]["footer"]["text"].endswith("[1]")  # and its source


def connected(world: World) -> bool:
    return any(c.ready and c.app is world.fake.app for c in world.fake.connections)


# --- gateway faults -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "resumes"),
    [
        ("reconnect (op 7)", True),
        ("invalid session, resumable (op 9, true)", True),
        ("close 4000 (unknown error)", True),
        ("dropped TCP connection (1006)", True),
        ("invalid session, not resumable (op 9, false)", False),
    ],
)
async def test_the_bot_comes_back_after_a_gateway_fault_and_answers(world: World, fault: str, resumes: bool) -> None:
    fake, bot = world.fake, world.bot
    await ask_and_expect_a_cited_answer(world)  # connected and answering before the fault
    identifies, resume_requests, resumed = len(fake.identifies), len(fake.resumes), len(fake.resumed)
    back = asyncio.ensure_future(bot.wait_for("resumed" if resumes else "ready", timeout=WAIT))
    await asyncio.sleep(0)  # the waiter is registered before the fault
    faults: dict[str, Callable[[], Awaitable[int]]] = {
        "reconnect (op 7)": lambda: fake.gateway_reconnect(),
        "invalid session, resumable (op 9, true)": lambda: fake.gateway_invalid_session(True),
        "close 4000 (unknown error)": lambda: fake.gateway_close(4000),
        "dropped TCP connection (1006)": lambda: fake.gateway_drop(),
        "invalid session, not resumable (op 9, false)": lambda: fake.gateway_invalid_session(False),
    }
    assert await faults[fault]() == 1, "the bot had one connection to hit"

    await back  # the bot says it is back (discord.py's "resumed" or "ready" event)
    await fake.wait_for(lambda: connected(world), WAIT, "the bot to be connected again")
    if resumes:
        assert len(fake.resumes) == resume_requests + 1  # one RESUME (op 6) ...
        assert len(fake.resumed) == resumed + 1  # ... accepted: the same session carried on
        assert fake.resumed[-1] == fake.resumes[-1]["session_id"]
        assert len(fake.identifies) == identifies  # and no new IDENTIFY
    else:
        assert len(fake.identifies) == identifies + 1  # the session is gone: IDENTIFY again
        assert len(fake.resumes) == resume_requests  # without trying to resume it
    await ask_and_expect_a_cited_answer(world)


async def test_a_resume_of_an_unknown_session_is_refused_and_the_bot_identifies_again(world: World) -> None:
    """Discord forgets sessions: a RESUME after a drop can meet Invalid Session (op 9, false)."""
    fake = world.fake
    identifies, resume_requests = len(fake.identifies), len(fake.resumes)
    assert await fake.gateway_expire_sessions() >= 1  # the session expires while the connection is down
    back = asyncio.ensure_future(world.bot.wait_for("ready", timeout=WAIT))
    await asyncio.sleep(0)
    assert await fake.gateway_drop() == 1
    await back
    await fake.wait_for(lambda: connected(world), WAIT, "the bot to be connected again")
    assert len(fake.resumes) == resume_requests + 1  # it tried to resume ...
    assert len(fake.identifies) == identifies + 1  # ... was refused, and identified again
    await ask_and_expect_a_cited_answer(world)


# --- hostile input through the bot -----------------------------------------------------------------


def discord_text(text: str) -> str:
    """What Discord can deliver: valid Unicode (a lone surrogate cannot travel as UTF-8)."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def sample_questions(per_kind: int = 24, seed: int = 2026) -> list[str]:
    """A seeded sample of the hostile questions, ``per_kind`` of every kind (all of a smaller kind)."""
    by_kind: dict[str, list[str]] = defaultdict(list)
    for question in hostile_questions():
        by_kind[kind_of(question)].append(question)
    rng = random.Random(seed)
    picked: list[str] = []
    for kind in sorted(by_kind):
        group = by_kind[kind]
        picked += rng.sample(group, min(per_kind, len(group)))
    return picked


QUESTIONS = sample_questions()  # for mentions (each starts a thread)
ALL_QUESTIONS = hostile_questions()  # for /ask: the whole set


async def test_the_sample_covers_every_kind_of_hostile_question() -> None:
    assert len(QUESTIONS) >= 200
    kinds = {kind_of(q) for q in QUESTIONS}
    assert kinds == {kind_of(q) for q in hostile_questions()}
    assert kinds >= set(SEEDS) - {"empty"}  # blank seeds are labelled "whitespace"


def is_polite_refusal(message: FakeMessage) -> bool:
    text = message.content
    return message.ephemeral and bool(text.strip()) and UNEXPECTED not in text


async def in_batches(items: list[Any], run: Callable[[Any], Awaitable[Any]]) -> list[Any]:
    results: list[Any] = []
    for start in range(0, len(items), BATCH):
        results += await asyncio.gather(*(run(item) for item in items[start : start + BATCH]))
    return results


async def test_hostile_questions_through_ask_are_all_answered_or_politely_refused(world: World) -> None:
    fake = world.fake

    async def ask(question: str) -> tuple[str, FakeInteraction, FakeMessage]:
        # A new user each time: the per-user cooldown is not what is tested here.
        asked = await fake.slash("ask", user=fake.new_user(), guild=world.story_guild, question=discord_text(question))
        return question, asked, await fake.reply(asked, within=WAIT)

    results = await in_batches(ALL_QUESTIONS, ask)
    failures: list[str] = []
    outcomes: dict[str, int] = defaultdict(int)
    for question, asked, reply in results:
        label = f"{kind_of(question)} {question[:50]!r}"
        if asked.rejections:
            failures.append(f"{label}: refused by Discord {asked.rejections}")
        elif asked.callback_type == DEFERRED_CHANNEL_MESSAGE and reply.embeds and not reply.ephemeral:
            outcomes["answered"] += 1
            if not description(reply).strip():
                failures.append(f"{label}: an empty answer")
        elif asked.callback_type == CHANNEL_MESSAGE and is_polite_refusal(reply):
            outcomes["refused"] += 1
        else:
            failures.append(f"{label}: neither an answer nor a polite refusal: {reply.text()[:120]!r}")
    assert failures == []
    assert outcomes["answered"] + outcomes["refused"] == len(ALL_QUESTIONS) >= 1000  # no silent drop
    assert outcomes["answered"]  # the set exercises both paths
    assert outcomes["refused"]


async def test_hostile_questions_in_mentions_are_all_answered_or_politely_refused(world: World) -> None:
    fake, me = world.fake, world.fake.app.user
    guild = await world.guild("mentions", documents=(REAL_STORY,), within=WAIT)

    def response_to(message: FakeMessage) -> FakeMessage | None:
        """The bot's answer in the thread it started from the message, or its reply in place,
        or the message itself once the bot reacted to it (chit-chat, such as only emoji)."""
        thread = fake.thread_of(message)
        for candidate in sorted(fake.messages.values(), key=lambda m: m.id):
            if candidate.author is not me or candidate.id <= message.id:
                continue
            if thread is not None and candidate.channel_id == thread.id:
                return candidate
            if candidate.reference == message.id:
                return candidate
        return message if fake.message(message.id).reactions else None

    async def mention(question: str) -> tuple[str, FakeMessage, FakeMessage]:
        user = fake.new_user()
        said = await fake.say(guild.general, user, f"{me.mention} {discord_text(question)}", mentions=(me,))
        found = await fake.wait_for(lambda: response_to(said), WAIT, f"a response to mention {said.id}")
        return question, said, found

    results = await in_batches(QUESTIONS, mention)
    failures: list[str] = []
    for question, said, response in results:
        label = f"{kind_of(question)} {question[:50]!r}"
        thread = fake.thread_of(said)
        if response is said:
            if not is_chit_chat(discord_text(question)):
                failures.append(f"{label}: a reaction instead of an answer")
        elif thread is not None:
            if not (response.embeds and description(response).strip()):
                failures.append(f"{label}: the thread holds no answer: {response.text()[:120]!r}")
        elif not response.content.strip() or UNEXPECTED in response.content:
            failures.append(f"{label}: neither an answer nor a polite refusal: {response.text()[:120]!r}")
    assert failures == []
    assert len(results) == len(QUESTIONS)  # every mention got its response


async def test_hostile_files_through_docs_add_are_indexed_or_politely_refused(world: World) -> None:
    fake = world.fake
    admin: FakeUser = fake.new_user("admin")
    guild = await world.guild("hostile-files", admin, within=WAIT)
    failures: list[str] = []
    added = 0
    for item in hostile_files():
        name = discord_text(item.label)
        upload = fake.attachment(name, item.content, size=item.size or None)
        asked = await fake.slash("docs add", user=admin, guild=guild, permissions=ADMIN, file=upload)
        reply = await fake.reply(asked, within=WAIT)
        if asked.rejections:
            failures.append(f"{name!r}: refused by Discord {asked.rejections}")
        elif not reply.ephemeral:
            failures.append(f"{name!r}: a public reply {reply.text()[:120]!r}")
        elif "couldn't download" in reply.content:  # the fake serves every attachment
            failures.append(f"{name!r}: the download failed: {reply.content!r}")
        elif reply.content.startswith("Added **"):
            added += 1
        elif not is_polite_refusal(reply):
            failures.append(f"{name!r}: neither added nor politely refused: {reply.text()[:160]!r}")
    assert failures == []
    assert added, "plain stories under hostile names are indexed"
    listed = await fake.reply(await fake.slash("docs list", user=admin, guild=guild, permissions=ADMIN))
    assert listed.ephemeral  # the index still lists cleanly, within Discord's limits (checked by the fake)
    assert listed.embeds
