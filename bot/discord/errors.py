"""Every failure a user can hit, turned into one polite sentence (never a traceback).

The command tree's error handler, the button callbacks and the mention listener all go through
:func:`describe_error`; only unexpected errors are logged with their traceback.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import discord
from discord import app_commands

from bot.state import AnswerNotFound, StateError
from index.errors import StoryBotError

UNEXPECTED = "Sorry, something went wrong on my side. It has been logged; please try again in a moment."
ANSWER_GONE = "That answer is no longer kept, so its buttons no longer work. Please ask again."
STATE_UNAVAILABLE = "I can't reach my memory right now (the maintainers can see why); please try again in a moment."


class OnCooldown(app_commands.CheckFailure):
    """A user asked again too soon (per-user cooldown on /ask, /summary and mentions)."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"on cooldown for {retry_after:.1f}s")
        self.retry_after = retry_after


class DocsRoleRequired(app_commands.CheckFailure):
    """A member Discord let run /docs has neither Manage Server nor the server's documents role."""

    def __init__(self, role_id: int) -> None:
        super().__init__(f"needs Manage Server or role {role_id}")
        self.role_id = role_id


@dataclass(frozen=True, slots=True)
class UserMessage:
    """What to tell the user, and whether the error is a bug worth a traceback in the log."""

    text: str
    unexpected: bool = False
    detail: str | None = None


def cooldown_text(retry_after: float) -> str:
    seconds = max(1, math.ceil(retry_after))
    return f"Slow down a little: you can ask again in {seconds} second{'s' if seconds != 1 else ''}."


def describe_error(error: BaseException) -> UserMessage:
    """Map an exception from a command, a button or a listener to a message for the user."""
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    if isinstance(error, StoryBotError):
        return UserMessage(str(error) or "That didn't work.", detail=error.detail)
    if isinstance(error, AnswerNotFound):
        return UserMessage(ANSWER_GONE)
    if isinstance(error, StateError):  # the database is unreachable or refuses: the operator's to fix
        return UserMessage(STATE_UNAVAILABLE, detail=str(error))
    if isinstance(error, OnCooldown):
        return UserMessage(cooldown_text(error.retry_after))
    if isinstance(error, app_commands.CommandOnCooldown):
        return UserMessage(cooldown_text(error.retry_after))
    if isinstance(error, app_commands.NoPrivateMessage):
        return UserMessage("This command works in a server, not in direct messages.")
    if isinstance(error, DocsRoleRequired):  # a role mention shows its name and, sent without pings, pings nobody
        return UserMessage(
            f"Only members with **Manage Server** or the <@&{error.role_id}> role can manage this server's documents."
        )
    if isinstance(error, app_commands.MissingPermissions):
        return UserMessage("Only members with the **Manage Server** permission can manage this server's documents.")
    if isinstance(error, app_commands.BotMissingPermissions):
        return UserMessage("I'm missing a permission I need here; please ask a server admin to check my role.")
    if isinstance(error, app_commands.TransformerError):
        return UserMessage("I couldn't understand one of the options; please check it and try again.")
    if isinstance(error, app_commands.CheckFailure):
        return UserMessage("You can't use this command here.")
    if isinstance(error, app_commands.CommandNotFound | app_commands.CommandSignatureMismatch):
        return UserMessage("This command has just been updated; please try again in a minute.")
    if isinstance(error, discord.Forbidden):
        return UserMessage("Discord didn't let me do that here; please check my permissions in this channel.")
    return UserMessage(UNEXPECTED, unexpected=True)
