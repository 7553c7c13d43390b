"""Mentions and threads: "@story-bot who is Petro?" gets its answer in a new thread, and later
messages in that thread are follow-ups answered with the thread's history."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from bot.answering.data import Turn
from bot.answering.questions import clean_question
from bot.discord.buttons import message_parts
from bot.discord.errors import OnCooldown, describe_error
from bot.discord.registry import answer_shown
from bot.discord.replies import NO_PINGS
from bot.discord.routing import MessageRoute, collection_for, route_message, strip_mentions_of, thread_name
from bot.logs import log_event

if TYPE_CHECKING:
    from discord.abc import MessageableChannel

    from bot.discord.client import StoryBot

log = logging.getLogger("storybot.discord")

USAGE = "Mention me with a question, e.g. “@{name} when will Petro meet Trump?”, or use `/ask`."


class ThreadCog(commands.Cog):
    """Answers mentions in threads; keeps each thread's turns for follow-ups."""

    def __init__(self, bot: StoryBot) -> None:
        self.bot = bot

    def route(self, message: discord.Message) -> MessageRoute:
        me = self.bot.user
        channel = message.channel
        in_thread = isinstance(channel, discord.Thread)
        own_thread = (
            in_thread
            and me is not None
            and (channel.id in self.bot.conversations or getattr(channel, "owner_id", None) == me.id)
        )
        return route_message(
            from_bot=message.author.bot or message.webhook_id is not None,
            is_dm=isinstance(channel, discord.DMChannel),
            in_thread=in_thread,
            own_thread=own_thread,
            mentioned=me is not None and any(user.id == me.id for user in message.mentions),
        )

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        route = self.route(message)
        if route is MessageRoute.IGNORE or self.bot.user is None:
            return
        question = strip_mentions_of(message.content, self.bot.user.id)
        try:
            await self.answer(message, question, route)
        except Exception as exc:
            reply = describe_error(exc)
            if reply.unexpected:
                log_event(log, "unexpected_error", logging.ERROR, exc_info=exc, where="mention", message=message.id)
            try:
                await message.reply(reply.text, mention_author=False, allowed_mentions=NO_PINGS)
            except discord.HTTPException as send_error:
                log_event(log, "error_reply_failed", logging.WARNING, message=message.id, error=str(send_error))

    async def answer(self, message: discord.Message, question: str, route: MessageRoute) -> None:
        """Validate, pick the channel to answer in, and answer there with the right history."""
        if not question:
            if route is MessageRoute.FOLLOW_UP:
                return  # e.g. an image, or text hidden without the Message Content intent
            name = self.bot.user.display_name if self.bot.user else "story-bot"
            await message.reply(USAGE.format(name=name), mention_author=False, allowed_mentions=NO_PINGS)
            return
        started = time.perf_counter()
        cleaned = clean_question(question, self.bot.settings.max_question_chars)
        retry_after = self.bot.cooldowns.hit("ask", message.author.id)
        if retry_after > 0:
            raise OnCooldown(retry_after)
        channel = await self.answer_channel(message, cleaned, route)
        history = self.bot.conversations.history(channel.id) if route is MessageRoute.FOLLOW_UP else ()
        guild_id = message.guild.id if message.guild else None
        collection = collection_for(guild_id)
        async with channel.typing():
            timed = await self.bot.backend.ask(cleaned, collection, history)
        shown = answer_shown(timed.answer, collection, guild_id)
        embed, view = message_parts(self.bot.registry.put(shown), shown)
        if route is not MessageRoute.REPLY_HERE and isinstance(channel, discord.Thread | discord.DMChannel):
            self.bot.conversations.add(channel.id, Turn(cleaned, timed.answer.answer))
        await channel.send(embed=embed, view=view, allowed_mentions=NO_PINGS)
        self.bot.log_answer(route.value, guild_id, message.author.id, timed, started, history=len(history))

    async def answer_channel(
        self, message: discord.Message, question: str, route: MessageRoute
    ) -> MessageableChannel | discord.Thread:
        """A new thread from the message for a fresh mention; the message's channel otherwise."""
        if route is not MessageRoute.NEW_THREAD:
            return message.channel
        try:
            thread = await message.create_thread(name=thread_name(question), auto_archive_duration=1440)
        except discord.HTTPException as exc:  # no permission to create threads here: answer in place
            log_event(log, "thread_create_failed", logging.WARNING, channel=message.channel.id, error=str(exc))
            return message.channel
        self.bot.conversations.start(thread.id)
        return thread
