"""Where a question's answer comes from (a collection) and whether a message is one at all."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from bot.discord import limits

GUILD_COLLECTION_PREFIX = "guild-"


def collection_for(guild_id: int | None) -> str | None:
    """Each guild has its own Chroma collection; DMs (no guild) use the default collection.

    ``guild-<snowflake>`` is at most 26 characters of ``[a-z0-9-]``, within Chroma's naming rules.
    """
    return None if guild_id is None else f"{GUILD_COLLECTION_PREFIX}{int(guild_id)}"


def answering_collection(own: str | None, has_documents: bool) -> str | None:
    """The collection that answers: a server's own once it holds a document; until then (and
    again after its last document is removed) the default collection, which holds the bundled
    sample story. The sample is never copied into a server's collection."""
    return own if own is not None and has_documents else None


class MessageRoute(enum.Enum):
    """What to do with a channel message."""

    IGNORE = "ignore"
    NEW_THREAD = "new-thread"  # mentioned in a channel: answer in a thread made from the message
    FOLLOW_UP = "follow-up"  # in the bot's own thread or a DM: answer with the conversation's history
    REPLY = "reply"  # a Discord reply to one of its answers: that answer (and its thread) is the context
    REPLY_HERE = "reply-here"  # mentioned in someone else's thread: answer there, no history


ReplyTarget = Literal["answer", "bot", "other"]


@dataclass(frozen=True, slots=True)
class MessageFacts:
    """What the bot knows about a message when deciding whether it is addressed to it."""

    from_bot: bool
    is_dm: bool = False
    in_thread: bool = False
    own_thread: bool = False  # a thread the bot opened
    by_starter: bool = False  # written by the member who started that thread
    mentioned: bool = False  # an explicit mention of the bot (not @everyone)
    mentions_others: bool = False  # mentions other members, a role or @everyone, not the bot
    reply_to: ReplyTarget | None = None  # a Discord reply: to one of its answers, another bot message, or a member


def route_message(facts: MessageFacts) -> MessageRoute:
    """Decide how to treat a message. Bots (including this one) are always ignored, so two bots
    can never answer each other forever. In its own threads the bot answers the member who
    started the thread, and anyone who mentions it or replies to it; members talking to each
    other (a reply to a member, a mention of someone else, anyone else's plain message) are left
    alone."""
    if facts.from_bot:
        return MessageRoute.IGNORE
    if facts.reply_to == "answer":
        return MessageRoute.REPLY
    if facts.mentioned or facts.reply_to == "bot":
        if facts.is_dm or facts.own_thread:
            return MessageRoute.FOLLOW_UP
        return MessageRoute.REPLY_HERE if facts.in_thread else MessageRoute.NEW_THREAD
    if facts.is_dm:
        return MessageRoute.FOLLOW_UP
    talking_to_others = facts.reply_to == "other" or facts.mentions_others
    if facts.own_thread and facts.by_starter and not talking_to_others:
        return MessageRoute.FOLLOW_UP
    return MessageRoute.IGNORE


_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")
_CHANNEL_MENTION = re.compile(r"<#(\d+)>")


def readable_mentions(
    content: str,
    bot_id: int,
    users: Mapping[int, str],
    roles: Mapping[int, str] | None = None,
    channels: Mapping[int, str] | None = None,
) -> str:
    """A message as people read it: the bot's own mention removed, and other ``<@id>``,
    ``<@&id>`` and ``<#id>`` codes replaced by display names (unknown ones are left for
    ``clean_question`` to drop), so thread titles and answers never show raw codes."""

    def name(table: Mapping[int, str] | None, match: re.Match[str]) -> str:
        found = (table or {}).get(int(match.group(1)))
        return found or match.group(0)

    text = re.sub(rf"<@!?{int(bot_id)}>", " ", content)
    text = _USER_MENTION.sub(lambda m: name(users, m), text)
    text = _ROLE_MENTION.sub(lambda m: name(roles, m), text)
    text = _CHANNEL_MENTION.sub(lambda m: name(channels, m), text)
    return re.sub(r"\s+", " ", text).strip()


def strip_mentions_of(content: str, user_id: int) -> str:
    """The question in a message that mentions the bot: its ``<@id>`` / ``<@!id>`` removed."""
    return readable_mentions(content, user_id, {})


def thread_name(question: str) -> str:
    """A thread title from the question (Discord allows 1–100 characters)."""
    flat = re.sub(r"\s+", " ", question).strip()
    return limits.truncate(flat, limits.THREAD_NAME) or "Question"
