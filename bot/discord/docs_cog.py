"""/docs add, /docs remove and /docs list: managing a server's own documents.

Only members with Manage Server see the group (``default_permissions``), and every call checks
the permission again at run time, because server admins can override the default.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord import limits
from bot.discord.render import escape_markdown, plural, render_sources
from bot.discord.replies import NO_PINGS, to_embed
from bot.discord.routing import collection_for
from bot.logs import log_event
from index.errors import DocumentError, StoryBotError
from index.loaders import SUPPORTED_SUFFIXES, is_supported

if TYPE_CHECKING:
    from bot.discord.client import StoryBot

log = logging.getLogger("storybot.discord")

MANAGE_SERVER = discord.Permissions(manage_guild=True)


def human_size(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB" if size >= 100_000 else f"{size / 1000:.0f} KB"


def check_upload(filename: str, size: int, max_bytes: int) -> None:
    """Refuse unsupported or oversized uploads before downloading them."""
    if not is_supported(filename):
        kinds = ", ".join(SUPPORTED_SUFFIXES)
        raise DocumentError(f"I can't read {filename!r}: please upload one of {kinds}.")
    if size > max_bytes:
        raise DocumentError(f"{filename!r} is {human_size(size)}; the limit is {human_size(max_bytes)}.")


def source_choices(sources: list[str], current: str) -> list[app_commands.Choice[str]]:
    """Autocomplete: the document names containing what was typed, at most 25."""
    typed = current.casefold().strip()
    matches = [s for s in sources if typed in s.casefold() and len(s) <= limits.CHOICE_VALUE]
    return [
        app_commands.Choice(name=limits.truncate(s, limits.CHOICE_NAME), value=s) for s in matches[: limits.CHOICES]
    ]


class DocsCog(commands.Cog):
    """Per-guild document management (each guild has its own collection)."""

    docs = app_commands.Group(
        name="docs",
        description="Manage the documents this server's answers come from.",
        guild_only=True,
        default_permissions=MANAGE_SERVER,
    )

    def __init__(self, bot: StoryBot) -> None:
        self.bot = bot

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        """The run-time half of the permission check (``default_permissions`` can be changed)."""
        if interaction.guild_id is None:
            raise app_commands.NoPrivateMessage()
        if not interaction.permissions.manage_guild:
            raise app_commands.MissingPermissions(["manage_guild"])
        return True

    @docs.command(name="add", description="Add a document (.txt, .md, .html or .pdf) to this server's story.")
    @app_commands.describe(file="The document to add")
    async def add(self, interaction: discord.Interaction, file: discord.Attachment) -> None:
        check_upload(file.filename, file.size, self.bot.settings.max_upload_bytes)
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            data = await file.read()
        except discord.HTTPException:
            raise StoryBotError("I couldn't download that file from Discord; please try again.") from None
        added = await self.bot.backend.add_document(data, file.filename, collection_for(interaction.guild_id))
        result = added.result
        note = " It replaces the bundled sample story." if added.replaced_sample else ""
        state = "unchanged" if result.unchanged else plural(result.passages, "passage")
        text = f"Added **{escape_markdown(result.source)}** ({state}). Questions here are now answered from it.{note}"
        await interaction.edit_original_response(content=text, allowed_mentions=NO_PINGS)
        log_event(log, "document_added", guild=interaction.guild_id, source=result.source, passages=result.passages)

    @docs.command(name="remove", description="Remove a document from this server's story.")
    @app_commands.describe(source="The document's name (see /docs list)")
    async def remove(self, interaction: discord.Interaction, source: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        collection = collection_for(interaction.guild_id)
        removed = await self.bot.backend.remove(source, collection)
        left = await self.bot.backend.sources(collection, with_sample=False)
        note = "" if left else " No documents are left, so answers come from the bundled sample story again."
        text = f"Removed **{escape_markdown(source)}** ({plural(removed, 'passage')}).{note}"
        await interaction.edit_original_response(content=text, allowed_mentions=NO_PINGS)
        log_event(log, "document_removed", guild=interaction.guild_id, source=source)

    @remove.autocomplete("source")
    async def remove_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        try:
            infos = await self.bot.backend.sources(collection_for(interaction.guild_id), with_sample=False)
        except Exception:
            log_event(log, "autocomplete_failed", logging.WARNING, exc_info=True, guild=interaction.guild_id)
            return []
        return source_choices([i.source for i in infos], current)

    @docs.command(name="list", description="List this server's documents.")
    async def list_docs(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        infos = await self.bot.backend.sources(collection_for(interaction.guild_id))
        pages = render_sources(infos, "in this server")
        await interaction.edit_original_response(embeds=[to_embed(pages[0])], allowed_mentions=NO_PINGS)
        for page in pages[1:]:
            await interaction.followup.send(embed=to_embed(page), ephemeral=True, allowed_mentions=NO_PINGS)
