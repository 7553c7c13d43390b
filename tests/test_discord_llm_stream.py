"""/ask with a language model configured: the answer streams into the deferred response.

The real discord.py client against the fake Discord, the real ``ChatOpenAI`` client against the
loopback OpenAI-compatible stub: previews are edited into the response, then the verified answer
(with its citations and buttons) replaces them. Nothing a user sees pings anyone.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from bot.discord.client import StoryBot, build_bot
from bot.service import build_service
from config import load_settings
from index.embeddings import MiniLMEmbeddings
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

QUOTE = "Gustavo Petro will meet US President Donald Trump on February 3"
_PASSAGE = re.compile(r"<<<passage-(\d+) (\w+)>>>\n(.*?)\n<<<end-passage-\1 \2>>>", re.DOTALL)


def cites_the_date(body: dict[str, Any]) -> StubReply:
    """A model that answers from the passage holding the meeting date, quoting it verbatim."""
    prompt = str(body["messages"][-1]["content"])
    for n, _, text in _PASSAGE.findall(prompt):
        if QUOTE in text:
            reply = {
                "answer": f"Petro and Trump meet on February 3, at a tense moment for both countries [{n}].",
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
        fake = FakeDiscord(heartbeat_interval_ms=1000).start()
        settings = load_settings(
            data_dir=str(tmp_path_factory.mktemp("stream-data")),
            discord_token=fake.app.token,
            llm_provider="openai",
            llm_base_url=stub.base_url,
            llm_model=MODEL_ID,
            llm_api_key="not-needed",
        )
        service = build_service(settings, embeddings)
        with fake.patch_discord():
            bot = build_bot(settings, service, guild_ready_timeout=0.05)
            running = asyncio.create_task(bot.start(fake.app.token))
            await asyncio.wait_for(bot.wait_until_ready(), 120)
            guild = await fake.add_guild("streaming")
            if bot.get_guild(guild.id) is None:
                await bot.wait_for("guild_join", check=lambda joined: joined.id == guild.id, timeout=30)
            yield fake, bot, stub, guild
            await bot.close()
            await running
        fake.stop()


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
    asked = await fake.slash("ask", user=fake.new_user(), guild=guild, question="When will Petro meet Trump?")
    reply = await final_answer(fake, asked)

    assert asked.callback_type == DEFERRED_CHANNEL_MESSAGE
    assert stub.requests[-1]["stream"] is True
    edits = [payload for route, payload in fake.sent[sent_before:] if route.endswith("/messages/@original")]
    previews = [e for e in edits if e.get("content")]
    assert previews, "the answer was shown while it was being written"
    assert "drafting" in previews[0]["content"]
    assert reply.content == "", "the final answer replaces the preview"
    embed = reply.embeds[0]
    assert "Petro and Trump meet on February 3" in embed["description"]
    assert QUOTE in embed["fields"][0]["value"].replace("\n", " ")
    check_discord_rules(fake, sent=sent_before)
