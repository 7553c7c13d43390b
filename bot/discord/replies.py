"""Sending things to Discord: pages as embeds, ephemeral notes and error replies.

Every send passes ``allowed_mentions=NO_PINGS`` explicitly (the client has it as its default
too): text from users and documents is echoed back, and must never ping ``@everyone`` or a role.
"""

from __future__ import annotations

import contextlib
import logging

import discord

from bot.discord import limits
from bot.discord.errors import describe_error
from bot.discord.render import Page
from bot.logs import log_event

log = logging.getLogger("storybot.discord")

NO_PINGS = discord.AllowedMentions.none()


def to_embed(page: Page) -> discord.Embed:
    """A rendered page as a Discord embed (the page is already within every limit)."""
    embed = discord.Embed(title=page.title or None, description=page.description or None, colour=page.colour)
    for field in page.fields:
        embed.add_field(name=field.name, value=field.value, inline=False)
    if page.footer:
        embed.set_footer(text=page.footer)
    return embed


async def send_ephemeral(interaction: discord.Interaction, text: str) -> None:
    """A private note to the person who interacted, whatever state the interaction is in."""
    text = limits.truncate(text, limits.CONTENT)
    response = interaction.response
    if not response.is_done():
        await response.send_message(text, ephemeral=True, allowed_mentions=NO_PINGS)
    elif response.type == discord.InteractionResponseType.deferred_channel_message:
        # The "thinking…" placeholder may be public: swap it for a note only the user sees.
        with contextlib.suppress(discord.NotFound):
            await interaction.delete_original_response()
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_PINGS)
    else:
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_PINGS)


async def reply_error(interaction: discord.Interaction, error: BaseException, where: str) -> None:
    """Tell the user what went wrong in one sentence; log a traceback only for real bugs."""
    message = describe_error(error)
    if message.unexpected:
        log_event(log, "unexpected_error", logging.ERROR, exc_info=error, where=where)
    elif message.detail:
        log_event(log, "user_error", logging.WARNING, where=where, message=message.text, detail=message.detail)
    if interaction.type == discord.InteractionType.autocomplete:
        return
    try:
        await send_ephemeral(interaction, message.text)
    except discord.HTTPException as exc:
        log_event(log, "error_reply_failed", logging.WARNING, where=where, error=str(exc))
