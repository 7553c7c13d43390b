"""What members ask on Discord, as their server's admin sees it and as a regression set.

Members ask with /ask and with mentions, the bot answers some and refuses others, members vote 👍
and 👎 (with a reason typed into the modal, or the modal closed); then an admin's /stats, and
`storybot feedback export` and `storybot eval` over the bot's own database. The real discord.py
client and answer core against the fake Discord; the CLI runs in-process through its entry point.

The database's clock can be set back ("ten days ago") so that the 7-day and 30-day windows of the
stats differ; everything else waits for states, never durations. Every test leaves Discord's rules
unbroken (no refusals, no pings, allowed_mentions on every send) and logs no error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bot.discord.stats_page import NOTHING_YET
from bot.discord.vote_reason import THANKS_WITH_REASON, TITLE_NEW
from index.embeddings import MiniLMEmbeddings
from index.loaders import LoadedDocument
from tests.discord_harness import BotWorld, answer_id, bot_on_fake_discord, discord_rules_kept
from tests.fake_discord import (
    ADMIN,
    MANAGE_GUILD,
    MEMBER,
    CommandNotOffered,
    FakeGuild,
    FakeInteraction,
    FakeMessage,
    FakeUser,
    deliverable_pings,
    description,
    eventually,
)
from tests.test_cli import run_cli

pytestmark = pytest.mark.asyncio(loop_scope="module")

FERRY = LoadedDocument(
    "ferry-talks.txt",
    "Ferry Talks\n\n"
    "Harbour chair Ines Calloway will meet ferry director Tomas Brandt on March 14. "
    "Calloway and Brandt will meet in the Port Alder town hall. "
    "Calloway said the winter timetable will be the main subject of the meeting. "
    "The two spoke by phone last week. "
    "Calloway has dared the ferry company to run a second morning crossing.",
)
# Asked ten days ago: inside the 30-day window, outside the 7-day one.
OLD_ANSWERED = "Who will Calloway meet?"
OLD_REFUSED = "Who painted the ferry?"
# Asked now.
WHEN = "When will Calloway meet Brandt?"
WHERE = "Where will Calloway and Brandt meet?"
COST = "How much will the new ferry cost?"
COST_AGAIN = "how much will the new   ferry cost?"  # the same question for the stats: case and spacing
COLOUR = "@everyone what colour is the ferry?"
COLOUR_LOGGED = "what colour is the ferry?"  # as the question log keeps it: no @everyone, no mention
REASON = "I wanted the room, not just the building"


@dataclass
class ShiftedClock:
    """The time the bot's database sees: the real time, set back by ``shift`` while a test plays
    out what members did some days ago (the CLI, on the real clock, then agrees with /stats)."""

    shift: timedelta = field(default_factory=timedelta)

    def __call__(self) -> datetime:
        return datetime.now(UTC) - self.shift


@dataclass
class World(BotWorld):
    clock: ShiftedClock

    @contextlib.contextmanager
    def days_ago(self, days: int) -> Iterator[None]:
        self.clock.shift = timedelta(days=days)
        try:
            yield
        finally:
            self.clock.shift = timedelta()

    async def guild(self, name: str = "guild", *members: FakeUser, **options: Any) -> FakeGuild:
        """A guild the bot has joined, holding the ferry story as its own document."""
        return await super().guild(name, *members, documents=(FERRY,), **options)

    async def ask(self, guild: FakeGuild, user: FakeUser, question: str) -> FakeMessage:
        return await self.fake.reply(await self.fake.slash("ask", user=user, guild=guild, question=question))

    async def mention(self, guild: FakeGuild, user: FakeUser, question: str) -> FakeMessage:
        """A member mentions the bot with a question; the bot's answer (in the thread it opens)."""
        me = self.fake.app.user
        said = await self.fake.say(guild.general, user, f"{me.mention} {question}", mentions=(me,))
        thread = await self.fake.wait_for(lambda: self.fake.thread_of(said), what="the answer's thread")
        return await self.fake.bot_message_in(thread.id)

    async def vote_up(self, answer: FakeMessage, user: FakeUser) -> None:
        clicked = await self.fake.click(answer, answer.custom_id("👍"), user=user)
        assert (await self.fake.reply(clicked)).content.startswith("Thanks")

    async def vote_down(self, answer: FakeMessage, user: FakeUser) -> FakeInteraction:
        """Click 👎; the click is answered with the reason modal (left open: see submit_modal)."""
        clicked = await self.fake.click(answer, answer.custom_id("👎"), user=user)
        assert (await self.fake.modal(clicked))["title"] == TITLE_NEW
        return clicked

    async def stats(self, guild: FakeGuild, admin: FakeUser) -> tuple[FakeInteraction, FakeMessage]:
        asked = await self.fake.slash("stats", user=admin, guild=guild, permissions=ADMIN)
        return asked, await self.fake.reply(asked)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(embeddings: MiniLMEmbeddings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    clock = ShiftedClock()
    data_dir = tmp_path_factory.mktemp("stats-feedback")  # holds the SQLite file `storybot` commands read
    async with bot_on_fake_discord(
        embeddings, data_dir, settings={"ask_cooldown_uses": 100}, bot_options={"warm_up": False}, clock=clock
    ) as started:
        yield World.over(started, clock=clock)


@pytest.fixture(autouse=True)
def discord_hygiene(world: World) -> Iterator[None]:
    """Every test leaves Discord's rules unbroken and logs no error."""
    with discord_rules_kept(world.fake, world.errors):
        yield


def refused(message: FakeMessage) -> bool:
    return "The story doesn't say" in description(message)


def fields_of(message: FakeMessage) -> dict[str, str]:
    [embed] = message.embeds
    return {f["name"]: f["value"] for f in embed.get("fields", [])}


WINDOW = re.compile(
    r"Asked \*\*(\d+)\*\* · answered \*\*(\d+)\*\* · refused \*\*(\d+)\*\*\n"
    r"Answer time: p50 (\d+) ms · p95 (\d+) ms\n"
    r"👍 \*\*(\d+)\*\* · 👎 \*\*(\d+)\*\*"
)


def window_counts(value: str) -> tuple[int, ...]:
    """(asked, answered, refused, 👍, 👎) from a window's field, checking its latencies on the way."""
    match = WINDOW.fullmatch(value)
    assert match, value
    asked, answered, refused_, p50, p95, up, down = map(int, match.groups())
    assert 0 <= p50 <= p95
    return asked, answered, refused_, up, down


def unanswered(value: str) -> list[tuple[int, str]]:
    """The (count, question) lines of a "not answered" field."""
    lines = [re.fullmatch(r"\*\*(\d+)×\*\* “(.*)”", line) for line in value.splitlines()]
    assert all(lines), value
    return [(int(m[1]), m[2]) for m in lines if m]


@dataclass
class Flow:
    """What members did in one guild, for the assertions."""

    guild: FakeGuild
    admin: FakeUser
    upvoted: FakeMessage  # today's 👍


async def members_ask_and_vote(world: World, name: str) -> Flow:
    """Ten days ago: an answered question (👍) and a refused one. Today: /ask answered (👍), a
    mention answered in its thread (👎, with a reason typed into the modal), and refusals: one
    question asked twice in two wordings (by /ask and by mention), one with @everyone in it."""
    admin, alice, bob, carol = (world.fake.new_user(n) for n in ("admin", "alice", "bob", "carol"))
    guild = await world.guild(name, admin, alice, bob, carol)
    with world.days_ago(10):
        old_upvoted = await world.ask(guild, alice, OLD_ANSWERED)
        assert "Brandt" in description(old_upvoted)
        await world.vote_up(old_upvoted, bob)
        assert refused(await world.ask(guild, bob, OLD_REFUSED))

    upvoted = await world.ask(guild, alice, WHEN)
    assert "March 14" in description(upvoted)
    await world.vote_up(upvoted, bob)
    downvoted = await world.mention(guild, carol, WHERE)
    assert "town hall" in description(downvoted)
    clicked = await world.vote_down(downvoted, alice)
    submitted = await world.fake.submit_modal(clicked, {"reason": REASON})
    assert (await world.fake.reply(submitted)).content == THANKS_WITH_REASON
    assert refused(await world.ask(guild, bob, COST))
    assert refused(await world.mention(guild, carol, COST_AGAIN))
    assert refused(await world.ask(guild, alice, COLOUR))
    return Flow(guild, admin, upvoted)


# --- /stats ---------------------------------------------------------------------------------


async def test_stats_show_an_admin_what_members_asked_and_what_went_unanswered(world: World) -> None:
    flow = await members_ask_and_vote(world, "stats")
    asked, shown = await world.stats(flow.guild, flow.admin)

    assert shown.ephemeral
    assert shown.content == ""
    assert deliverable_pings(shown) == []
    [edit] = [data for route, data in world.fake.sent if asked.token in route and route.startswith("PATCH")]
    assert edit["allowed_mentions"]["parse"] == []
    [embed] = shown.embeds
    assert embed["title"] == "Questions asked here"
    fields = fields_of(shown)
    assert list(fields) == [
        "Last 7 days",
        "Asked most and not answered, last 7 days",
        "Last 30 days",
        "Asked most and not answered, last 30 days",
    ]
    # (asked, answered, refused, 👍, 👎): today five questions, two answered, one 👍 and one 👎;
    # ten days ago two more questions, one answered, and another 👍.
    assert window_counts(fields["Last 7 days"]) == (5, 2, 3, 1, 1)
    assert window_counts(fields["Last 30 days"]) == (7, 3, 4, 2, 1)

    assert unanswered(fields["Asked most and not answered, last 7 days"]) == [(2, COST), (1, COLOUR_LOGGED)]
    assert unanswered(fields["Asked most and not answered, last 30 days"]) == [
        (2, COST),
        (1, COLOUR_LOGGED),  # the most recent first among equals
        (1, OLD_REFUSED),
    ]
    everything = shown.text()
    assert "@" not in everything
    for answered_question in (OLD_ANSWERED, WHEN, WHERE):
        assert answered_question not in everything  # what was answered is not listed as unanswered

    command = next(c for c in world.fake.app.global_commands if c["name"] == "stats")
    assert int(command["default_member_permissions"]) == MANAGE_GUILD
    with pytest.raises(CommandNotOffered):
        await world.fake.slash("stats", user=world.fake.new_user("member"), guild=flow.guild, permissions=MEMBER)


async def test_a_thumbs_down_whose_modal_is_closed_still_counts(world: World) -> None:
    admin, asker, voter = (world.fake.new_user(n) for n in ("admin", "asker", "voter"))
    guild = await world.guild("closed-modal", admin, asker, voter)
    _, nothing = await world.stats(guild, admin)
    assert nothing.embeds[0]["description"] == NOTHING_YET.format(days=30)

    answer = await world.ask(guild, asker, WHEN)
    clicked = await world.vote_down(answer, voter)  # the modal opens; the member closes it
    [vote] = await eventually(lambda: world.database.votes_for(answer_id(answer)), "the 👎")
    assert (vote.vote, vote.reason, vote.message_id) == (-1, None, str(answer.id))
    assert vote.user_hash == world.bot.hash_user(voter.id)
    assert clicked.followups == []  # nothing else was sent: the modal was the whole reply

    _, shown = await world.stats(guild, admin)
    assert window_counts(fields_of(shown)["Last 7 days"]) == (1, 1, 0, 0, 1)


# --- feedback export → eval -----------------------------------------------------------------


async def test_feedback_from_discord_exports_to_a_set_that_storybot_eval_scores(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = await members_ask_and_vote(world, "round-trip")
    collection = f"guild-{flow.guild.id}"
    monkeypatch.setenv("STORYBOT_DATA_DIR", str(world.data_dir))  # the commands read the bot's database

    def storybot(*args: str) -> tuple[int, str, str]:
        # In a thread: the bot's event loop keeps serving Discord (heartbeats) meanwhile.
        return run_cli(list(args), capsys)

    exported = tmp_path / "feedback.jsonl"
    code, out, err = await asyncio.to_thread(storybot, "feedback", "export", "-c", collection, "-o", str(exported))
    assert (code, out) == (0, "")
    assert f"Exported 2 tests and 4 questions to review to {exported}" in " ".join(err.split())
    rows = [json.loads(line) for line in exported.read_text(encoding="utf-8").splitlines()]
    assert {row["collection"] for row in rows} == {collection}
    assert {row["guild_id"] for row in rows} == {str(flow.guild.id)}
    by_question = {row["question"]: row for row in rows}
    assert set(by_question) == {OLD_ANSWERED, WHEN, WHERE, OLD_REFUSED, COST, COLOUR_LOGGED}

    when = by_question[WHEN]
    assert (when["origin"], when["answers"], when["unanswerable"], when["review"]) == (
        "upvoted",
        ["March 14"],
        False,
        False,
    )
    assert when["votes"] == {"up": 1, "down": 0}
    assert when["id"] == f"vote-{answer_id(flow.upvoted)[:16]}"
    assert by_question[OLD_ANSWERED]["answers"] == ["Brandt"]
    where = by_question[WHERE]
    assert (where["origin"], where["answers"], where["review"], where["reasons"]) == (
        "downvoted",
        [],
        True,
        [REASON],
    )
    assert "Port Alder town hall" in where["answer_given"]
    cost = by_question[COST]
    assert (cost["origin"], cost["unanswerable"], cost["review"], cost["asked"]) == ("refused", True, True, 2)

    code, out, err = await asyncio.to_thread(storybot, "eval", str(exported), "-c", collection, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert (report["answerable"], report["answer_accuracy"], report["failures"]) == (2, 1.0, [])
    assert (report["unanswerable"], report["review"]) == (0, 4)  # refusals wait for review
    assert report["citation_verbatim_rate"] == 1.0
    code, out, _ = await asyncio.to_thread(storybot, "eval", str(exported), "-c", collection)
    assert code == 0
    assert re.search(r"flagged for review\s*│\s*4 ", out)

    # The 👍 row really is scored: an accepted answer the story does not give fails it.
    wrong = tmp_path / "wrong.jsonl"
    wrong.write_text(
        "".join(json.dumps(row | {"answers": ["April 2"]} if row is when else row) + "\n" for row in rows),
        encoding="utf-8",
    )
    code, out, _ = await asyncio.to_thread(storybot, "eval", str(wrong), "-c", collection, "--json")
    assert code == 0
    assert (json.loads(out)["answer_accuracy"], json.loads(out)["failures"]) == (0.5, [when["id"]])

    # `storybot stats` reads the same log as /stats.
    code, out, _ = await asyncio.to_thread(storybot, "stats", "--guild", str(flow.guild.id), "--json")
    [report] = json.loads(out)["reports"]
    week, month = report["windows"]
    assert [(w["days"], w["asked"], w["answered"], w["refused"]) for w in (week, month)] == [
        (7, 5, 2, 3),
        (30, 7, 3, 4),
    ]
    assert [(w["votes_up"], w["votes_down"]) for w in (week, month)] == [(1, 1), (2, 1)]
    assert [(u["question"], u["count"]) for u in week["top_unanswered"]] == [(COST, 2), (COLOUR_LOGGED, 1)]
