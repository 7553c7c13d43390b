"""With a language model configured, answers stream: /ask into its deferred response, and
answers in threads into a draft message.

The real discord.py client against the fake Discord, the real ``ChatOpenAI`` client against the
loopback OpenAI-compatible stub: previews are edited into the response, then the verified answer
(with its citations and buttons) replaces them. Nothing a user sees pings anyone.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from bot.discord.client import StoryBot
from index.embeddings import MiniLMEmbeddings
from index.loaders import LoadedDocument
from tests.discord_harness import bot_on_fake_discord
from tests.fake_discord import (
    DEFERRED_CHANNEL_MESSAGE,
    FakeDiscord,
    FakeGuild,
    FakeInteraction,
    FakeMessage,
    check_discord_rules,
)
from tests.openai_stub import MODEL_ID, OpenAIStub, StubReply, running_stub

pytestmark = pytest.mark.asyncio(loop_scope="module")

LIBRARY = LoadedDocument(
    "library.txt",
    "The Riverside Library\n\n"
    "The Riverside library will reopen its reading room on May 3 after a new roof was fitted. "
    "Librarian Noor Haddad said the children's corner has doubled in size. "
    "The library now opens on Sundays from ten until four.",
)
QUESTION = "When will the Riverside library reopen its reading room?"
QUOTE = "The Riverside library will reopen its reading room on May 3"
_PASSAGE = re.compile(r"<<<passage-(\d+) (\w+)>>>\n(.*?)\n<<<end-passage-\1 \2>>>", re.DOTALL)


def cites_the_date(body: dict[str, Any]) -> StubReply:
    """A model that answers from the passage holding the reopening date, quoting it verbatim."""
    prompt = str(body["messages"][-1]["content"])
    for n, _, text in _PASSAGE.findall(prompt):
        if QUOTE in text:
            reply = {
                "answer": f"The reading room reopens on May 3, to the relief of many readers [{n}].",
                "citations": [int(n)],
                "quotes": [{"n": int(n), "quote": QUOTE}],
            }
            return StubReply(json.dumps(reply))
    return StubReply(json.dumps({"answer": "The story doesn't say.", "citations": [], "quotes": []}))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(
    embeddings: MiniLMEmbeddings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[FakeDiscord, StoryBot, OpenAIStub, FakeGuild]]:
    with running_stub(cites_the_date) as stub:
        settings = {
            "llm_provider": "openai",
            "llm_base_url": stub.base_url,
            "llm_model": MODEL_ID,
            "llm_api_key": "not-needed",
        }
        data_dir = tmp_path_factory.mktemp("stream-data")
        async with bot_on_fake_discord(embeddings, data_dir, settings=settings) as started:
            guild = await started.guild("streaming", documents=(LIBRARY,))
            yield started.fake, started.bot, stub, guild


async def final_answer(fake: FakeDiscord, asked: FakeInteraction) -> FakeMessage:
    """The response once it holds the answer embed (previews come first, as plain content)."""

    def answered() -> FakeMessage | None:
        message = asked.final()
        return message if message is not None and message.embeds else None

    return await fake.wait_for(answered, 60, "the final answer")


async def test_a_model_answer_streams_into_the_response_then_shows_verified_citations(
    stack: tuple[FakeDiscord, StoryBot, OpenAIStub, FakeGuild],
) -> None:
    fake, _bot, stub, guild = stack
    sent_before = len(fake.sent)
    asked = await fake.slash("ask", user=fake.new_user(), guild=guild, question=QUESTION)
    reply = await final_answer(fake, asked)

    assert asked.callback_type == DEFERRED_CHANNEL_MESSAGE
    assert stub.requests[-1]["stream"] is True
    edits = [payload for route, payload in fake.sent[sent_before:] if route.endswith("/messages/@original")]
    previews = [e for e in edits if e.get("content")]
    assert previews, "the answer was shown while it was being written"
    assert "drafting" in previews[0]["content"]
    assert reply.content == "", "the final answer replaces the preview"
    embed = reply.embeds[0]
    assert "The reading room reopens on May 3" in embed["description"]
    assert f"> “{QUOTE}" in embed["description"]  # the model's words, then the verified quote, once
    assert embed["footer"]["text"] == "library.txt [1]"
    check_discord_rules(fake, sent=sent_before)


async def test_a_thread_answer_streams_into_a_draft_that_becomes_the_answer(
    stack: tuple[FakeDiscord, StoryBot, OpenAIStub, FakeGuild],
) -> None:
    fake, _bot, stub, guild = stack
    sent_before, requests_before = len(fake.sent), len(stub.requests)
    user, me = fake.new_user(), fake.app.user
    asked = await fake.say(guild.general, user, f"{me.mention} {QUESTION}", mentions=(me,))
    thread = await fake.wait_for(lambda: fake.thread_of(asked), what="a thread")

    def answered() -> FakeMessage | None:
        return next((m for m in fake.messages.values() if m.channel_id == thread.id and m.embeds), None)

    reply = await fake.wait_for(answered, 60, "the final answer in the thread")
    assert stub.requests[requests_before]["stream"] is True
    bodies = [payload for route, payload in fake.sent[sent_before:] if f"/channels/{thread.id}/" in route]
    assert "drafting" in bodies[0]["content"], "the draft was shown while the answer was being written"
    assert not bodies[0].get("embeds")
    assert bodies[-1]["embeds"], "the verified answer replaced the draft"
    assert reply.content == ""
    assert "The reading room reopens on May 3" in reply.embeds[0]["description"]
    assert len([m for m in fake.messages.values() if m.channel_id == thread.id and m.author.bot]) == 1
    check_discord_rules(fake, sent=sent_before)
