"""The pure pieces of the Discord face: feedback, cooldowns, registry, routing, errors, logs."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from discord import app_commands

from bot.answering.data import Answer, Citation, Turn
from bot.discord.client import dev_guild_id
from bot.discord.conversations import Conversations
from bot.discord.cooldown import Cooldown, Cooldowns
from bot.discord.docs_cog import check_upload, source_choices
from bot.discord.errors import UNEXPECTED, ExpiredMessage, OnCooldown, describe_error
from bot.discord.feedback import FeedbackStore
from bot.discord.registry import ShownRegistry, answer_shown
from bot.discord.routing import MessageRoute, collection_for, route_message, strip_mentions_of, thread_name
from config import load_settings
from index.errors import DocumentError, StoryBotError
from index.store import validate_collection_name

CITATION = Citation(1, "story.txt", 0, 10, "Petro met.")


# --- feedback -------------------------------------------------------------------------------


def test_feedback_is_appended_as_json_lines_with_a_salted_user_hash(tmp_path: Path) -> None:
    store = FeedbackStore.in_data_dir(tmp_path)
    store.record(question="q?", answer="a [1]", citations=[CITATION], vote="up", user_id=42, guild_id=7)
    store.record(question="q2?", answer="no", citations=[], vote="down", user_id=42, guild_id=None, grounded=False)
    lines = (tmp_path / "feedback" / "votes.jsonl").read_text(encoding="utf-8").splitlines()
    first, second = (json.loads(line) for line in lines)
    assert first["vote"] == "up"
    assert first["citations"][0]["passage"] == "Petro met."
    assert first["guild"] == "7"
    assert second["guild"] is None
    assert second["grounded"] is False
    assert first["user"] == second["user"] != "42"
    assert len(first["user"]) == 32
    assert first["timestamp"].endswith("+00:00")
    other_install = FeedbackStore(tmp_path / "elsewhere")
    assert other_install.hash_user(42) != store.hash_user(42)  # the salt is per installation
    assert [r.question for r in store.read()] == ["q?", "q2?"]


def test_feedback_survives_concurrent_writers(tmp_path: Path) -> None:
    store = FeedbackStore.in_data_dir(tmp_path)

    def vote(i: int) -> None:
        store.record(question=f"q{i}", answer="a", citations=[], vote="up", user_id=i, guild_id=1)

    threads = [threading.Thread(target=vote, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.question for r in store.read()) == sorted(f"q{i}" for i in range(20))


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


# --- registry and conversations -------------------------------------------------------------


def test_registry_is_bounded_and_keys_fit_in_custom_ids() -> None:
    registry = ShownRegistry(capacity=3)
    shown = answer_shown(Answer("q", "a [1]", True, [CITATION]), "guild-1", 1)
    keys = [registry.put(shown) for _ in range(4)]
    assert all(len(k) == 16 and int(k, 16) >= 0 for k in keys)
    assert registry.get(keys[0]) is None
    assert registry.get(keys[3]) is shown
    assert shown.citation(1) == CITATION
    assert shown.citation(2) is None
    registry.clear()
    assert len(registry) == 0


def test_conversations_keep_the_last_turns_of_recent_threads() -> None:
    conversations = Conversations(max_turns=2, max_threads=2)
    conversations.start(1)
    assert 1 in conversations
    assert conversations.history(1) == ()
    for i in range(3):
        conversations.add(1, Turn(f"q{i}", f"a{i}"))
    assert conversations.history(1) == (Turn("q1", "a1"), Turn("q2", "a2"))
    conversations.add(2, Turn("x", "y"))
    conversations.add(3, Turn("x", "y"))
    assert 1 not in conversations  # the least recent thread went first


# --- routing --------------------------------------------------------------------------------


def test_guild_collections_are_valid_chroma_names_and_dms_use_the_default() -> None:
    assert collection_for(None) is None
    name = collection_for(1_576_770_785_320_632_332)
    assert name == "guild-1576770785320632332"
    assert validate_collection_name(name) == name


@pytest.mark.parametrize(
    ("flags", "route"),
    [
        ({"from_bot": True, "is_dm": True, "in_thread": False, "own_thread": False, "mentioned": True}, "ignore"),
        ({"from_bot": False, "is_dm": False, "in_thread": False, "own_thread": False, "mentioned": False}, "ignore"),
        ({"from_bot": False, "is_dm": False, "in_thread": False, "own_thread": False, "mentioned": True}, "new-thread"),
        ({"from_bot": False, "is_dm": False, "in_thread": True, "own_thread": True, "mentioned": False}, "follow-up"),
        ({"from_bot": False, "is_dm": False, "in_thread": True, "own_thread": False, "mentioned": True}, "reply-here"),
        ({"from_bot": False, "is_dm": False, "in_thread": True, "own_thread": False, "mentioned": False}, "ignore"),
        ({"from_bot": False, "is_dm": True, "in_thread": False, "own_thread": False, "mentioned": False}, "follow-up"),
    ],
)
def test_route_message(flags: dict[str, bool], route: str) -> None:
    assert route_message(**flags) is MessageRoute(route)


def test_mentions_are_stripped_and_thread_names_fit() -> None:
    assert strip_mentions_of("<@42> who is  <@!42> Petro?", 42) == "who is Petro?"
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
    names = [f"doc-{i}.txt" for i in range(40)] + ["x" * 150 + ".txt"]
    assert len(source_choices(names, "")) == 25
    assert [c.value for c in source_choices(names, "DOC-3")] == ["doc-3.txt"] + [f"doc-{i}.txt" for i in range(30, 40)]
    assert all(len(c.value) <= 100 for c in source_choices(names, "x"))


# --- errors and logs ------------------------------------------------------------------------


def test_user_errors_become_one_friendly_sentence_and_bugs_an_apology() -> None:
    assert describe_error(StoryBotError("No such document.")).text == "No such document."
    assert not describe_error(StoryBotError("x")).unexpected
    assert describe_error(OnCooldown(3.2)).text == "Slow down a little: you can ask again in 4 seconds."
    assert describe_error(OnCooldown(0.5)).text.endswith("in 1 second.")
    assert "Manage Server" in describe_error(app_commands.MissingPermissions(["manage_guild"])).text
    assert "in a server" in describe_error(app_commands.NoPrivateMessage()).text
    assert "too old" in describe_error(ExpiredMessage()).text
    bug = describe_error(ZeroDivisionError("division by zero"))
    assert bug.unexpected
    assert bug.text == UNEXPECTED


def test_the_dev_guild_must_be_a_server_id() -> None:
    assert dev_guild_id(load_settings(dev_guild="")) is None
    assert dev_guild_id(load_settings(dev_guild=" 1234 ")) == 1234
    with pytest.raises(StoryBotError, match="digits only"):
        dev_guild_id(load_settings(dev_guild="my-server"))
