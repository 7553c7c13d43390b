"""The pure pieces of the Discord face: pseudonyms, saved answers, cooldowns, routing, errors, logs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from discord import app_commands

from bot.answering.data import Answer, Citation, ShortAnswer, Summary, SummaryLine
from bot.discord.client import commands_digest, dev_guild_id
from bot.discord.cooldown import Cooldown, Cooldowns
from bot.discord.docs_cog import check_upload, source_choices
from bot.discord.errors import UNEXPECTED, OnCooldown, describe_error
from bot.discord.feedback import UserHasher, fleet_salt
from bot.discord.routing import (
    MessageFacts,
    MessageRoute,
    answering_collection,
    collection_for,
    readable_mentions,
    route_message,
    strip_mentions_of,
    thread_name,
)
from bot.discord.shown import answer_from_payload, answer_payload, summary_from_payload, summary_payload
from bot.state import AnswerNotFound, StateError, open_database
from config import load_settings
from index.errors import DocumentError, StoryBotError
from index.store import SourceInfo, validate_collection_name

CITATION = Citation(1, "story.txt", 0, 10, "Mara rows.")


# --- pseudonyms ---------------------------------------------------------------------------


def test_user_hashes_are_keyed_stable_and_do_not_reveal_the_id() -> None:
    hasher = UserHasher(bytes.fromhex("ab" * 32))
    assert hasher(42) == hasher(42) != hasher(43)
    assert len(hasher(42)) == 32
    assert "42" not in hasher(42)
    assert UserHasher(bytes.fromhex("cd" * 32))(42) != hasher(42)  # the salt is what makes it


def test_the_salt_is_shared_through_the_database_and_adopts_the_legacy_file(tmp_path: Path) -> None:
    with open_database(None, tmp_path / "a") as db:
        first = fleet_salt(db, tmp_path / "a")
        assert fleet_salt(db, tmp_path / "a") == first  # every bot of the fleet gets the same
        assert len(first) == 32
    legacy = tmp_path / "b" / "feedback" / "user-hash.salt"
    legacy.parent.mkdir(parents=True)
    legacy.write_text("0f" * 32)
    with open_database(None, tmp_path / "b") as db:
        assert fleet_salt(db, tmp_path / "b") == bytes.fromhex("0f" * 32)  # pseudonyms survive the upgrade
    (tmp_path / "c" / "feedback").mkdir(parents=True)
    (tmp_path / "c" / "feedback" / "user-hash.salt").write_text("not hex")
    with open_database(None, tmp_path / "c") as db:
        assert len(fleet_salt(db, tmp_path / "c")) == 32  # an unreadable legacy salt is replaced


# --- cooldowns ------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_cooldown_is_a_sliding_window_per_key() -> None:
    clock = Clock()
    cooldown = Cooldown(2, 10.0, clock)
    assert cooldown.hit("a") == 0.0
    clock.now += 4
    assert cooldown.hit("a") == 0.0
    assert cooldown.hit("a") == pytest.approx(6.0)
    assert cooldown.hit("b") == 0.0  # another user is unaffected
    clock.now += 6
    assert cooldown.hit("a") == 0.0  # the first use left the window
    assert cooldown.hit("a") == pytest.approx(4.0)


def test_cooldowns_are_separate_per_command_and_can_be_disabled() -> None:
    clock = Clock()
    buckets = Cooldowns(1, 60.0, clock)
    assert buckets.hit("ask", 1) == 0.0
    assert buckets.hit("ask", 1) > 0
    assert buckets.hit("summary", 1) == 0.0
    off = Cooldown(1, 0.0, clock)
    assert [off.hit("a") for _ in range(5)] == [0.0] * 5


def test_idle_cooldown_keys_are_forgotten() -> None:
    clock = Clock()
    cooldown = Cooldown(1, 1.0, clock, max_keys=10)
    for user in range(11):
        cooldown.hit(user)
    clock.now += 5
    cooldown.hit("fresh")
    assert len(cooldown._hits) <= 2


# --- saved answers ---------------------------------------------------------------------------


def test_answers_and_summaries_survive_the_round_trip_through_their_payload() -> None:
    short = ShortAnswer("March 14", "story.txt", 5, 13)
    answer = Answer(
        "When?", "March 14 [1]\nMara rows. [1]", True, [CITATION], [CITATION], confidence=0.5, short_answer=short
    )
    payload = answer_payload(answer)
    assert json.loads(json.dumps(payload)) == payload  # plain JSON, as a JSON column stores it
    again = answer_from_payload(payload)
    assert (again.question, again.answer, again.citations, again.related, again.short_answer) == (
        answer.question,
        answer.answer,
        answer.citations,
        answer.related,
        short,
    )
    summary = Summary("key-points", [SummaryLine("Mara rows. [1]", (1,))], [CITATION])
    assert summary_from_payload(summary_payload(summary)) == summary


def test_numpy_scores_are_stored_as_plain_numbers() -> None:
    import numpy as np

    answer = Answer("q", "a [1]", True, [Citation(1, "s.txt", 0, 1, "a", score=np.float32(0.25))])
    assert answer_payload(answer)["citations"][0]["score"] == 0.25


# --- routing --------------------------------------------------------------------------------


def test_guild_collections_are_valid_chroma_names_and_dms_use_the_default() -> None:
    assert collection_for(None) is None
    name = collection_for(1_576_770_785_320_632_332)
    assert name == "guild-1576770785320632332"
    assert validate_collection_name(name) == name


def test_a_server_answers_from_its_own_documents_or_else_the_default_collection() -> None:
    assert answering_collection("guild-1", has_documents=True) == "guild-1"
    assert answering_collection("guild-1", has_documents=False) is None  # the sample, never copied in
    assert answering_collection(None, has_documents=True) is None  # direct messages


@pytest.mark.parametrize(
    ("facts", "route"),
    [
        (MessageFacts(from_bot=True, is_dm=True, mentioned=True), "ignore"),
        (MessageFacts(from_bot=True, reply_to="answer"), "ignore"),
        (MessageFacts(from_bot=False), "ignore"),  # channel chatter
        (MessageFacts(from_bot=False, mentioned=True), "new-thread"),
        (MessageFacts(from_bot=False, reply_to="answer"), "reply"),  # a reply in a channel
        (MessageFacts(from_bot=False, reply_to="bot"), "new-thread"),  # to its usage note: like a mention
        (MessageFacts(from_bot=False, reply_to="other"), "ignore"),
        (MessageFacts(from_bot=False, is_dm=True), "follow-up"),
        (MessageFacts(from_bot=False, is_dm=True, reply_to="answer"), "reply"),
        # its own thread: the starter is answered, others only when they address the bot
        (MessageFacts(from_bot=False, in_thread=True, own_thread=True, by_starter=True), "follow-up"),
        (MessageFacts(from_bot=False, in_thread=True, own_thread=True), "ignore"),
        (MessageFacts(from_bot=False, in_thread=True, own_thread=True, mentioned=True), "follow-up"),
        (MessageFacts(from_bot=False, in_thread=True, own_thread=True, reply_to="answer"), "reply"),
        (MessageFacts(from_bot=False, in_thread=True, own_thread=True, by_starter=True, reply_to="other"), "ignore"),
        (
            MessageFacts(from_bot=False, in_thread=True, own_thread=True, by_starter=True, mentions_others=True),
            "ignore",
        ),
        # someone else's thread
        (MessageFacts(from_bot=False, in_thread=True, mentioned=True), "reply-here"),
        (MessageFacts(from_bot=False, in_thread=True, by_starter=True), "ignore"),
        (MessageFacts(from_bot=False, in_thread=True, reply_to="answer"), "reply"),
    ],
)
def test_route_message(facts: MessageFacts, route: str) -> None:
    assert route_message(facts) is MessageRoute(route)


def test_mentions_read_as_display_names_and_the_bots_own_is_removed() -> None:
    users = {7: "Ines", 8: "Tomas Brandt"}
    text = readable_mentions(
        "<@42> what did <@7> tell <@!8> in <#5> about <@&3>?", 42, users, {3: "Mods"}, {5: "ferry"}
    )
    assert text == "what did Ines tell Tomas Brandt in ferry about Mods?"
    assert readable_mentions("<@99> hi <@42>", 42, {}) == "<@99> hi"  # unknown ones stay for clean_question


def test_mentions_are_stripped_and_thread_names_fit() -> None:
    assert strip_mentions_of("<@42> who is  <@!42> Mara?", 42) == "who is Mara?"
    assert strip_mentions_of("<@43> hi", 42) == "<@43> hi"
    assert thread_name("x " * 200).endswith("…")
    assert len(thread_name("x " * 200)) <= 100
    assert thread_name("   ") == "Question"


# --- uploads, autocomplete ------------------------------------------------------------------


def test_uploads_are_checked_for_type_and_size() -> None:
    check_upload("story.PDF", 10, 100)
    with pytest.raises(DocumentError, match="please upload one of"):
        check_upload("story.docx", 10, 100)
    with pytest.raises(DocumentError, match="the limit is"):
        check_upload("story.txt", 2_000_001, 2_000_000)


def test_source_choices_filter_and_respect_discord_limits() -> None:
    infos = [SourceInfo(f"doc-{i}.txt", 1, 10) for i in range(40)] + [SourceInfo("x" * 150 + ".txt", 1, 10)]
    assert len(source_choices(infos, "")) == 25
    assert [c.value for c in source_choices(infos, "DOC-3")] == ["doc-3.txt"] + [f"doc-{i}.txt" for i in range(30, 40)]
    assert all(len(c.value) <= 100 for c in source_choices(infos, "x"))


def test_web_pages_are_offered_by_title_and_chosen_by_name() -> None:
    page = SourceInfo("news.example-bridge-1a2b3c4d5e.html", 3, 900, "Bridge reopens", "https://news.example/bridge")
    [choice] = source_choices([page, SourceInfo("notes.txt", 1, 10)], "bridge")
    assert (choice.name, choice.value) == ("Bridge reopens", page.source)
    assert [c.value for c in source_choices([page], "news.example/bri")] == [page.source]  # by address too


# --- errors and logs ------------------------------------------------------------------------


def test_user_errors_become_one_friendly_sentence_and_bugs_an_apology() -> None:
    assert describe_error(StoryBotError("No such document.")).text == "No such document."
    assert not describe_error(StoryBotError("x")).unexpected
    assert describe_error(OnCooldown(3.2)).text == "Slow down a little: you can ask again in 4 seconds."
    assert describe_error(OnCooldown(0.5)).text.endswith("in 1 second.")
    assert "Manage Server" in describe_error(app_commands.MissingPermissions(["manage_guild"])).text
    assert "in a server" in describe_error(app_commands.NoPrivateMessage()).text
    assert "no longer kept" in describe_error(AnswerNotFound("abc")).text
    down = describe_error(StateError("Cannot read from the database postgresql://u:***@db/x: refused"))
    assert not down.unexpected
    assert "***" not in down.text  # the reason goes to the log, not to the user
    assert down.detail
    bug = describe_error(ZeroDivisionError("division by zero"))
    assert bug.unexpected
    assert bug.text == UNEXPECTED


def test_the_dev_guild_must_be_a_server_id() -> None:
    assert dev_guild_id(load_settings(dev_guild="")) is None
    assert dev_guild_id(load_settings(dev_guild=" 1234 ")) == 1234
    with pytest.raises(StoryBotError, match="digits only"):
        dev_guild_id(load_settings(dev_guild="my-server"))


def test_the_commands_digest_changes_with_the_definitions_only() -> None:
    ask = {"name": "ask", "options": [{"name": "question", "max_length": 1000}]}
    help_ = {"name": "help", "options": []}
    assert commands_digest([ask, help_]) == commands_digest([help_, dict(reversed(ask.items()))])
    longer = {"name": "ask", "options": [{"name": "question", "max_length": 2000}]}
    assert commands_digest([longer, help_]) != commands_digest([ask, help_])
