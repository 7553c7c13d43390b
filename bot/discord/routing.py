"""Where a question's answer comes from (a collection) and whether a message is one at all."""

from __future__ import annotations

import enum
import re

from bot.discord import limits

GUILD_COLLECTION_PREFIX = "guild-"


def collection_for(guild_id: int | None) -> str | None:
    """Each guild has its own Chroma collection; DMs (no guild) use the default collection.

    ``guild-<snowflake>`` is at most 26 characters of ``[a-z0-9-]``, within Chroma's naming rules.
    """
    return None if guild_id is None else f"{GUILD_COLLECTION_PREFIX}{int(guild_id)}"


class MessageRoute(enum.Enum):
    """What to do with a channel message."""

    IGNORE = "ignore"
    NEW_THREAD = "new-thread"  # mentioned in a channel: answer in a thread made from the message
    FOLLOW_UP = "follow-up"  # in the bot's own thread or a DM: answer with the conversation's history
    REPLY_HERE = "reply-here"  # mentioned in someone else's thread: answer there, no history


def route_message(*, from_bot: bool, is_dm: bool, in_thread: bool, own_thread: bool, mentioned: bool) -> MessageRoute:
    """Decide how to treat a message. Bots (including this one) are always ignored, so two bots
    can never answer each other forever; ``mentioned`` means an explicit mention of the bot, not
    ``@everyone``."""
    if from_bot:
        return MessageRoute.IGNORE
    if is_dm or own_thread:
        return MessageRoute.FOLLOW_UP
    if not mentioned:
        return MessageRoute.IGNORE
    return MessageRoute.REPLY_HERE if in_thread else MessageRoute.NEW_THREAD


def strip_mentions_of(content: str, user_id: int) -> str:
    """The question in a message that mentions the bot: its ``<@id>`` / ``<@!id>`` removed."""
    without = re.sub(rf"<@!?{int(user_id)}>", " ", content)
    return re.sub(r"\s+", " ", without).strip()


def thread_name(question: str) -> str:
    """A thread title from the question (Discord allows 1–100 characters)."""
    flat = re.sub(r"\s+", " ", question).strip()
    return limits.truncate(flat, limits.THREAD_NAME) or "Question"
