"""Mentions, threads and replies: "@story-bot who is Petro?" gets its answer in a new thread.

In its own threads the bot answers the member who started the thread, and anyone who mentions it
or replies to it; members talking to each other are left alone, and "thanks" or "lol" gets a 👍
rather than an answer. A Discord reply to any of its answers, anywhere, is a follow-up to that
answer. Conversation memory lives in the database (``bot.discord.state``), so a thread keeps its
context across a restart.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from bot.answering.questions import clean_question
from bot.discord.backend import TimedAnswer
from bot.discord.buttons import answer_id_of, message_parts
from bot.discord.chitchat import is_chit_chat
from bot.discord.errors import describe_error
from bot.discord.render import render_preview
from bot.discord.replies import NO_PINGS
from bot.discord.routing import (
    MessageFacts,
    MessageRoute,
    ReplyTarget,
    collection_for,
    readable_mentions,
    route_message,
    thread_name,
)
from bot.discord.server_settings import DMS_CLOSED, route_in_server
from bot.discord.shown import Shown
from bot.discord.state import Context, thread_key
from bot.logs import log_event
from bot.state import Conversation
from index.errors import StoryBotError

if TYPE_CHECKING:
    from discord.abc import Messageable

    from bot.discord.client import StoryBot

log = logging.getLogger("storybot.discord")


@dataclass(frozen=True, slots=True)
class Placement:
    """Where an answer goes (a channel or thread), the message it replies to, and the
    conversation it continues."""

    target: Messageable
    reply_to: discord.Message | None
    context: Context


USAGE = "Mention me with a question, e.g. “@{name} when will Petro meet Trump?”, or use `/ask`."
ACKNOWLEDGE = "👍"


class ThreadCog(commands.Cog):
    """Answers mentions, follow-ups in its threads and DMs, and replies to its answers."""

    def __init__(self, bot: StoryBot) -> None:
        self.bot = bot

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or message.webhook_id is not None or self.bot.user is None:
            return  # bots (this one included) never get an answer: no two bots talk forever
        try:
            await self.handle(message)
        except Exception as exc:
            reply = describe_error(exc)
            if reply.unexpected:
                log_event(log, "unexpected_error", logging.ERROR, exc_info=exc, where="mention", message=message.id)
            try:
                await message.reply(reply.text, mention_author=False, allowed_mentions=NO_PINGS)
            except discord.HTTPException as send_error:
                log_event(log, "error_reply_failed", logging.WARNING, message=message.id, error=str(send_error))

    async def handle(self, message: discord.Message) -> None:
        """Route the message; then answer it, acknowledge it, or leave it alone."""
        if not self.may_be_addressed(message):
            return
        replied, reply_to = await self.replied_answer(message)
        conversation = await self.conversation(message)
        route = await self.obey_settings(message, route_message(self.facts(message, reply_to, conversation)))
        text = self.readable(message) if route is not MessageRoute.IGNORE else ""
        chit_chat = bool(text) and is_chit_chat(text)
        log_event(
            log, "message_routed", logging.DEBUG, message=message.id, route="chit-chat" if chit_chat else route.value
        )
        if route is MessageRoute.IGNORE:
            return
        if not text:
            if route in (MessageRoute.NEW_THREAD, MessageRoute.REPLY_HERE):
                name = self.bot.user.display_name if self.bot.user else "story-bot"
                await message.reply(USAGE.format(name=name), mention_author=False, allowed_mentions=NO_PINGS)
            return  # e.g. an image, or text hidden without the Message Content intent
        if chit_chat:
            await self.acknowledge(message)
            return
        await self.answer(message, text, route, replied, conversation)

    async def obey_settings(self, message: discord.Message, route: MessageRoute) -> MessageRoute:
        """The route under the server's settings (which channels, a thread or in place), or in a
        DM under the bot-wide ``answer_dms``: a closed DM gets a note instead of an answer."""
        if route is MessageRoute.IGNORE:
            return route
        if message.guild is None:
            if not self.bot.settings.answer_dms:
                await message.channel.send(DMS_CLOSED, allowed_mentions=NO_PINGS)
                return MessageRoute.IGNORE
            return route
        settings = await self.bot.state.server_settings(message.guild.id)
        return route_in_server(route, settings, message.channel.id, getattr(message.channel, "parent_id", None))

    def may_be_addressed(self, message: discord.Message) -> bool:
        """A cheap first filter, before any database lookup: plain chatter in channels and in
        other people's threads is not addressed to the bot."""
        me = self.bot.user
        mentioned = me is not None and any(user.id == me.id for user in message.mentions)
        return mentioned or message.reference is not None or self.may_have_conversation(message.channel)

    def may_have_conversation(self, channel: object) -> bool:
        """A DM, a thread the bot opened, or a channel not in the cache (which could be one)."""
        me = self.bot.user
        if isinstance(channel, discord.Thread):
            return me is not None and channel.owner_id == me.id
        return isinstance(channel, discord.DMChannel | discord.PartialMessageable)

    async def replied_answer(self, message: discord.Message) -> tuple[Shown | None, ReplyTarget | None]:
        """If the message is a Discord reply: the answer it replies to, and to whom it replies."""
        reference = message.reference
        if reference is None or reference.message_id is None or self.bot.user is None:
            return None, None
        author = getattr(reference.resolved, "author", None)
        if author is not None and author.id == message.author.id:
            return None, None  # adding to one's own message is not talking to anyone else
        if author is not None and author.id != self.bot.user.id:
            return None, "other"
        shown = await self.bot.state.shown_in_message(reference.message_id)
        if shown is None and isinstance(reference.resolved, discord.Message):
            # The message id is recorded just after the answer is sent; a reply that quick
            # finds the answer by the id its buttons carry.
            answer_id = answer_id_of(reference.resolved)
            shown = await self.bot.state.shown_answer(answer_id) if answer_id else None
        if shown is not None:
            return shown, "answer"
        return None, "bot" if author is not None else "other"

    async def conversation(self, message: discord.Message) -> Conversation | None:
        """The conversation of a DM or of a thread the bot opened, if it has one."""
        if self.may_have_conversation(message.channel):
            return await self.bot.state.conversation(message.channel.id)
        return None

    def facts(
        self, message: discord.Message, reply_to: ReplyTarget | None, conversation: Conversation | None
    ) -> MessageFacts:
        me = self.bot.user
        assert me is not None
        channel = message.channel
        is_dm = isinstance(channel, discord.DMChannel)
        in_thread = isinstance(channel, discord.Thread)
        opened_by_me = in_thread and getattr(channel, "owner_id", None) == me.id
        others = [user for user in message.mentions if user.id not in (me.id, message.author.id)]
        starter = conversation.starter_user_id if conversation is not None else None
        return MessageFacts(
            from_bot=message.author.bot or message.webhook_id is not None,
            is_dm=is_dm,
            in_thread=in_thread,
            own_thread=not is_dm and (conversation is not None or opened_by_me),
            by_starter=starter is not None and starter == self.bot.hash_user(message.author.id),
            mentioned=any(user.id == me.id for user in message.mentions),
            mentions_others=bool(others or message.role_mentions or message.mention_everyone),
            reply_to=reply_to,
        )

    def readable(self, message: discord.Message) -> str:
        """The message's text with display names for mentions, and without the bot's own."""
        me = self.bot.user
        assert me is not None
        return readable_mentions(
            message.content,
            me.id,
            {user.id: user.display_name for user in message.mentions},
            {role.id: role.name for role in message.role_mentions},
            {channel.id: getattr(channel, "name", "") for channel in message.channel_mentions},
        )

    async def acknowledge(self, message: discord.Message) -> None:
        """Chit-chat gets a reaction, and stays out of the conversation memory."""
        try:
            await message.add_reaction(ACKNOWLEDGE)
        except discord.HTTPException as exc:  # no permission to react here: stay quiet
            log_event(log, "reaction_failed", logging.WARNING, message=message.id, error=str(exc))

    async def answer(
        self,
        message: discord.Message,
        text: str,
        route: MessageRoute,
        replied: Shown | None,
        conversation: Conversation | None,
    ) -> None:
        """Validate, pick where to answer and with which history, answer, and remember the turn."""
        started = time.perf_counter()
        cleaned = clean_question(text, self.bot.settings.max_question_chars)
        self.bot.use_cooldown("ask", message.author.id)  # after validation: refused input uses no slot
        guild_id = message.guild.id if message.guild else None
        collection = await self.bot.backend.answering_collection(collection_for(guild_id))
        place = await self.place(message, cleaned, route, replied, conversation, collection)
        timed = await self.deliver(place, cleaned, collection, guild_id)
        history = len(place.context.history)
        self.bot.log_answer(route.value, guild_id, message.author.id, timed, started, history=history)

    async def place(
        self,
        message: discord.Message,
        question: str,
        route: MessageRoute,
        replied: Shown | None,
        conversation: Conversation | None,
        collection: str | None,
    ) -> Placement:
        """Where the answer goes, what it replies to, and the conversation it continues: a new
        thread for a fresh mention; the thread's (or DM's) history for a follow-up; the replied
        answer's conversation for a Discord reply; none for a mention in someone else's thread."""
        channel = message.channel
        name = self.bot.backend.collection_name(collection)
        if route is MessageRoute.NEW_THREAD:
            thread = await self.open_thread(message, question, name)
            if thread is not None:
                return Placement(thread, None, Context(thread_key(thread.id)))
        elif route is MessageRoute.FOLLOW_UP:
            if conversation is None and isinstance(channel, discord.DMChannel):
                starter = self.bot.hash_user(message.author.id)
                await self.bot.state.start_conversation(channel.id, collection=name, guild_id=None, starter=starter)
            key = thread_key(channel.id)
            reply_to = None if isinstance(channel, discord.DMChannel) else message
            return Placement(channel, reply_to, Context(key, await self.bot.state.history(key)))
        elif route is MessageRoute.REPLY and replied is not None and message.reference is not None:
            assert message.reference.message_id is not None
            guild_id = message.guild.id if message.guild else None
            context = await self.bot.state.reply_context(replied, message.reference.message_id, guild_id)
            return Placement(channel, message, context)
        return Placement(channel, message, Context(None))

    async def open_thread(self, message: discord.Message, question: str, collection: str) -> discord.Thread | None:
        """A thread made from the message, remembering who started it; None where the bot may
        not create threads (it then answers in place)."""
        try:
            thread = await message.create_thread(name=thread_name(question), auto_archive_duration=1440)
        except discord.HTTPException as exc:
            log_event(log, "thread_create_failed", logging.WARNING, channel=message.channel.id, error=str(exc))
            return None
        await self.bot.state.start_conversation(
            thread.id,
            collection=collection,
            guild_id=message.guild.id if message.guild else None,
            starter=self.bot.hash_user(message.author.id),
        )
        return thread

    async def deliver(
        self, place: Placement, question: str, collection: str | None, guild_id: int | None
    ) -> TimedAnswer:
        """Answer where ``place`` says: a model's answer streams into a draft that the verified
        answer then replaces, as /ask does. The answer is saved, and its turn remembered, before
        it is shown: its buttons carry its id, and a quick follow-up already has it as history."""
        drafts: list[discord.Message] = []
        try:
            async with place.target.typing():
                timed = await self.answer_with_drafts(place, question, collection, drafts)
            shown = await self.bot.state.save_answer(
                timed.answer,
                collection=self.bot.backend.collection_name(collection),
                guild_id=guild_id,
                channel_id=getattr(place.target, "id", None),
                latency_ms=timed.latency_ms,
                labels=timed.labels,
            )
            if place.context.conversation_id is not None:
                await self.bot.state.add_turn(place.context.conversation_id, question, shown)
            embed, view = message_parts(shown)
            if drafts:
                sent = await drafts[0].edit(content=None, embed=embed, view=view, allowed_mentions=NO_PINGS)
            else:
                sent = await self.send(place, embed=embed, view=view)
        except Exception:
            for draft in drafts:  # no half-written answer is left behind
                with contextlib.suppress(discord.HTTPException):
                    await draft.delete()
            raise
        await self.bot.state.attach_message(shown.answer_id, sent.id)
        return timed

    async def answer_with_drafts(
        self, place: Placement, question: str, collection: str | None, drafts: list[discord.Message]
    ) -> TimedAnswer:
        """The answer; with a language model, its text so far is shown in a draft message (added
        to ``drafts``) that is edited as it grows, at most once a second."""
        history = place.context.history
        if not self.bot.backend.streams:
            return await self.bot.backend.ask(question, collection, history)
        async for item in self.bot.backend.stream_answer(question, collection, history):
            if isinstance(item, TimedAnswer):
                return item
            if drafts:
                await drafts[0].edit(content=render_preview(item), allowed_mentions=NO_PINGS)
            else:
                drafts.append(await self.send(place, content=render_preview(item)))
        raise StoryBotError("The answer could not be completed; please ask again.")

    @staticmethod
    async def send(place: Placement, **parts: Any) -> discord.Message:
        if place.reply_to is None:
            return await place.target.send(allowed_mentions=NO_PINGS, **parts)
        return await place.target.send(
            reference=place.reply_to, mention_author=False, allowed_mentions=NO_PINGS, **parts
        )
