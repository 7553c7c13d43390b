"""/ask, /summary, /sources and /help: thin commands over the backend and the renderers."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import discord
from discord import InteractionCallbackResponse, app_commands
from discord.ext import commands

from bot.answering.questions import clean_question
from bot.discord import limits
from bot.discord.backend import TimedAnswer
from bot.discord.buttons import message_parts, story_bot
from bot.discord.render import SUMMARY_MODES, render_help, render_listing, render_preview
from bot.discord.replies import NO_PINGS, to_embed
from bot.discord.routing import collection_for
from bot.discord.shown import Shown
from bot.logs import log_event, passage_ids
from index.errors import StoryBotError

if TYPE_CHECKING:
    from bot.discord.client import StoryBot

log = logging.getLogger("storybot.discord")

F = TypeVar("F", bound=Callable[..., Any])


def per_user_cooldown(bucket: str) -> Callable[[F], F]:
    """A check that rate-limits a command per user, with a friendly message when too fast."""

    async def predicate(interaction: discord.Interaction) -> bool:
        story_bot(interaction).use_cooldown(bucket, interaction.user.id)
        return True

    return app_commands.check(predicate)


def declare_max_length(command: app_commands.Command[Any, ..., Any], option: str, max_length: int) -> None:
    """Declare a string option's maximum length to Discord from the settings, so the client
    enforces it as the member types (a decorator only takes a constant). The parameter is
    replaced, not changed: copies of a command share their parameter objects."""
    params = command._params
    params[option] = dataclasses.replace(params[option], max_value=min(max_length, limits.STRING_OPTION))


def placeholder_id(deferred: InteractionCallbackResponse[Any] | None) -> int | None:
    """The id of the "thinking…" message a deferral created: the answer's message, once edited."""
    return None if deferred is None else deferred.message_id


class AskCog(commands.Cog):
    """Answering: every blocking call goes through ``bot.backend`` (worker threads)."""

    def __init__(self, bot: StoryBot) -> None:
        self.bot = bot
        declare_max_length(self.ask, "question", bot.settings.max_question_chars)

    @app_commands.command(name="ask", description="Ask a question about the story; the answer quotes its sources.")
    @app_commands.describe(question="Your question about the story")
    async def ask(
        self, interaction: discord.Interaction, question: app_commands.Range[str, 1, limits.STRING_OPTION]
    ) -> None:
        started = time.perf_counter()
        # Checked before the cooldown: a question refused as empty or too long uses no slot.
        cleaned = clean_question(question, self.bot.settings.max_question_chars)
        self.bot.use_cooldown("ask", interaction.user.id)
        deferred = await interaction.response.defer(ephemeral=await self.private_answers(interaction), thinking=True)
        collection = await self.bot.backend.answering_collection(collection_for(interaction.guild_id))
        if self.bot.backend.streams:
            timed = await self._streamed(interaction, cleaned, collection)
        else:
            timed = await self.bot.backend.ask(cleaned, collection)
        shown = await self.bot.state.save_answer(
            timed.answer,
            collection=self.bot.backend.collection_name(collection),
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id,
            latency_ms=timed.latency_ms,
            message_id=placeholder_id(deferred),
            labels=timed.labels,
        )
        await self.show(interaction, shown, deferred)
        self.bot.log_answer("slash", interaction.guild_id, interaction.user.id, timed, started)

    async def private_answers(self, interaction: discord.Interaction) -> bool:
        """Whether the server wants /ask answers seen only by the asker (``/settings``)."""
        if interaction.guild_id is None:
            return False
        return (await self.bot.state.server_settings(interaction.guild_id)).private_answers

    async def show(
        self, interaction: discord.Interaction, shown: Shown, deferred: InteractionCallbackResponse[Any] | None
    ) -> None:
        """Replace the "thinking…" placeholder by the answer and its controls."""
        embed, view = message_parts(shown)
        message = await interaction.edit_original_response(
            content=None, embed=embed, view=view, allowed_mentions=NO_PINGS
        )
        if placeholder_id(deferred) != message.id:  # saved without it, or (never seen) another message
            await self.bot.state.attach_message(shown.answer_id, message.id)

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
        deferred = await interaction.response.defer(thinking=True)
        collection = await self.bot.backend.answering_collection(collection_for(interaction.guild_id))
        summary = await self.bot.backend.summarize(mode, collection)
        shown = await self.bot.state.save_summary(
            summary,
            collection=self.bot.backend.collection_name(collection),
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id,
            message_id=placeholder_id(deferred),
            labels=await self.bot.backend.source_labels(collection, summary.citations),
        )
        await self.show(interaction, shown, deferred)
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
        listing = await self.bot.backend.answering_sources(collection_for(interaction.guild_id))
        pages = render_listing(
            listing.sources, in_guild=interaction.guild_id is not None, own=listing.own, sample=listing.sample
        )
        await interaction.edit_original_response(embeds=[to_embed(p) for p in pages[:1]], allowed_mentions=NO_PINGS)
        for page in pages[1:]:
            await interaction.followup.send(embed=to_embed(page), ephemeral=True, allowed_mentions=NO_PINGS)

    @app_commands.command(name="help", description="What story-bot does and how to ask it.")
    async def help(self, interaction: discord.Interaction) -> None:
        page = render_help(self.bot.settings.max_question_chars)
        await interaction.response.send_message(embed=to_embed(page), ephemeral=True, allowed_mentions=NO_PINGS)
