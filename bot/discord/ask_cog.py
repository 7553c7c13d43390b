"""/ask, /summary, /sources and /help: thin commands over the backend and the renderers."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import discord
from discord import app_commands
from discord.ext import commands

from bot.answering.questions import clean_question
from bot.discord.backend import TimedAnswer
from bot.discord.buttons import message_parts, story_bot
from bot.discord.errors import OnCooldown
from bot.discord.registry import answer_shown, summary_shown
from bot.discord.render import SUMMARY_MODES, render_help, render_preview, render_sources
from bot.discord.replies import NO_PINGS, to_embed
from bot.discord.routing import collection_for
from bot.logs import log_event, passage_ids
from index.errors import StoryBotError

if TYPE_CHECKING:
    from bot.discord.client import StoryBot

log = logging.getLogger("storybot.discord")

F = TypeVar("F", bound=Callable[..., Any])


def per_user_cooldown(bucket: str) -> Callable[[F], F]:
    """A check that rate-limits a command per user, with a friendly message when too fast."""

    async def predicate(interaction: discord.Interaction) -> bool:
        retry_after = story_bot(interaction).cooldowns.hit(bucket, interaction.user.id)
        if retry_after > 0:
            raise OnCooldown(retry_after)
        return True

    return app_commands.check(predicate)


def where(guild_id: int | None) -> str:
    return "this server's answers come from" if guild_id else "my answers come from"


class AskCog(commands.Cog):
    """Answering: every blocking call goes through ``bot.backend`` (worker threads)."""

    def __init__(self, bot: StoryBot) -> None:
        self.bot = bot

    @app_commands.command(name="ask", description="Ask a question about the story; the answer quotes its sources.")
    @app_commands.describe(question="Your question (up to 1000 characters)")
    @per_user_cooldown("ask")
    async def ask(self, interaction: discord.Interaction, question: str) -> None:
        started = time.perf_counter()
        cleaned = clean_question(question, self.bot.settings.max_question_chars)
        await interaction.response.defer(thinking=True)
        collection = collection_for(interaction.guild_id)
        if self.bot.settings.llm_provider != "none":
            timed = await self._streamed(interaction, cleaned, collection)
        else:
            timed = await self.bot.backend.ask(cleaned, collection)
        shown = answer_shown(timed.answer, collection, interaction.guild_id)
        embed, view = message_parts(self.bot.registry.put(shown), shown)
        await interaction.edit_original_response(content=None, embed=embed, view=view, allowed_mentions=NO_PINGS)
        self.bot.log_answer("slash", interaction.guild_id, interaction.user.id, timed, started)

    async def _streamed(self, interaction: discord.Interaction, question: str, collection: str | None) -> TimedAnswer:
        """Show a model's answer in the deferred response as it is written (throttled edits);
        the final, verified answer replaces the preview."""
        async for item in self.bot.backend.stream_answer(question, collection):
            if isinstance(item, TimedAnswer):
                return item
            await interaction.edit_original_response(content=render_preview(item), allowed_mentions=NO_PINGS)
        raise StoryBotError("The answer could not be completed; please ask again.")

    @app_commands.command(name="summary", description="A cited summary of the documents this server answers from.")
    @app_commands.describe(mode="What kind of summary (default: TL;DR)")
    @app_commands.choices(mode=[app_commands.Choice(name=label, value=mode) for mode, label in SUMMARY_MODES.items()])
    @per_user_cooldown("summary")
    async def summary(self, interaction: discord.Interaction, mode: str = "tldr") -> None:
        started = time.perf_counter()
        await interaction.response.defer(thinking=True)
        collection = collection_for(interaction.guild_id)
        summary = await self.bot.backend.summarize(mode, collection)
        shown = summary_shown(summary, collection, interaction.guild_id)
        embed, view = message_parts(self.bot.registry.put(shown), shown)
        await interaction.edit_original_response(embed=embed, view=view, allowed_mentions=NO_PINGS)
        log_event(
            log,
            "summary",
            guild=interaction.guild_id or "dm",
            mode=mode,
            lines=len(summary.lines),
            citations=len(summary.citations),
            latency_ms=(time.perf_counter() - started) * 1000,
            passages=passage_ids(summary.citations),
        )

    @app_commands.command(name="sources", description="The documents this server's answers come from.")
    async def sources(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        infos = await self.bot.backend.sources(collection_for(interaction.guild_id))
        pages = render_sources(infos, where(interaction.guild_id))
        await interaction.edit_original_response(embeds=[to_embed(p) for p in pages[:1]], allowed_mentions=NO_PINGS)
        for page in pages[1:]:
            await interaction.followup.send(embed=to_embed(page), ephemeral=True, allowed_mentions=NO_PINGS)

    @app_commands.command(name="help", description="What story-bot does and how to ask it.")
    async def help(self, interaction: discord.Interaction) -> None:
        page = render_help(self.bot.settings.max_question_chars)
        await interaction.response.send_message(embed=to_embed(page), ephemeral=True, allowed_mentions=NO_PINGS)
