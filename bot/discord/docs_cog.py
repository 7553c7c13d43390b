"""/docs add, /docs remove and /docs list: managing a server's own documents.

Who may run ``/docs`` is Discord's to decide: the group declares ``default_permissions`` (Manage
Server), and a server admin can change that in Server Settings → Integrations; no hard-coded
check contradicts them. A bot cannot edit command permissions with its token, so the documents
role of ``/settings`` works inside Discord's: when a server sets one, the members Discord lets in
must also have Manage Server or that role. An admin can thus open ``/docs`` to everyone in
Integrations and narrow it with the role.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord import limits
from bot.discord.backend import AddedDocument
from bot.discord.errors import DocsRoleRequired
from bot.discord.progress import IndexingStatus, ThrottledEdits, progress_text
from bot.discord.render import escape_markdown, linked_source, plural, render_listing
from bot.discord.replies import NO_PINGS, to_embed
from bot.discord.routing import collection_for
from bot.discord.server_settings import ServerSettings, may_manage_documents
from bot.logs import log_event
from index.errors import DocumentError, StoryBotError
from index.loaders import SUPPORTED_SUFFIXES, is_supported
from index.store import SourceInfo

if TYPE_CHECKING:
    from bot.discord.client import StoryBot

log = logging.getLogger("storybot.discord")

MANAGE_SERVER = discord.Permissions(manage_guild=True)
URL_CHARS = 2000
NEITHER = "Please attach a file (`file:`) or give a web address (`url:`) to add."
BOTH = "Please add one document at a time: a file (`file:`) or a web address (`url:`), not both."


def human_size(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB" if size >= 100_000 else f"{size / 1000:.0f} KB"


def check_upload(filename: str, size: int, max_bytes: int) -> None:
    """Refuse unsupported or oversized uploads before downloading them."""
    if not is_supported(filename):
        kinds = ", ".join(SUPPORTED_SUFFIXES)
        raise DocumentError(f"I can't read {filename!r}: please upload one of {kinds}.")
    if size > max_bytes:
        raise DocumentError(f"{filename!r} is {human_size(size)}; the limit is {human_size(max_bytes)}.")


def check_one_source(has_file: bool, url: str | None) -> None:
    """``/docs add`` takes exactly one document: a file or an address."""
    has_url = bool(url and url.strip())
    if has_file and has_url:
        raise StoryBotError(BOTH)
    if not has_file and not has_url:
        raise StoryBotError(NEITHER)


def added_text(added: AddedDocument) -> str:
    """The reply to ``/docs add``: what was added or updated (a web page by its linked title)."""
    result = added.result
    name = f"**{linked_source(result.source, added.labels, preview=False)}**"
    passages = plural(result.passages, "passage")
    if result.unchanged:
        return f"{name} is already in this server's documents, unchanged ({passages})."
    if result.removed:
        return f"Updated {name} ({passages}: {result.added} new, {result.removed} gone)."
    return f"Added {name} ({passages}). Questions here are now answered from this server's documents."


def source_choices(infos: Iterable[SourceInfo], current: str) -> list[app_commands.Choice[str]]:
    """Autocomplete: the documents whose title, name or address contains what was typed, at most
    25, each shown by its title (or name) and chosen by its name."""
    typed = current.casefold().strip()
    matches = [
        info
        for info in infos
        if len(info.source) <= limits.CHOICE_VALUE
        and any(typed in text.casefold() for text in (info.source, info.title or "", info.url or ""))
    ]
    return [
        app_commands.Choice(name=limits.truncate(info.label, limits.CHOICE_NAME), value=info.source)
        for info in matches[: limits.CHOICES]
    ]


def member_role_ids(user: discord.abc.User) -> set[int]:
    """The roles of a server member (none for a plain user)."""
    return {role.id for role in getattr(user, "roles", ())}


def may_manage(interaction: discord.Interaction, settings: ServerSettings) -> bool:
    """Whether the member who interacted may manage documents under the server's settings."""
    return may_manage_documents(
        settings, manage_guild=interaction.permissions.manage_guild, role_ids=member_role_ids(interaction.user)
    )


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
        """Discord has decided who may run /docs; with a documents role set, also that role
        (or Manage Server)."""
        if interaction.guild_id is None:
            raise app_commands.NoPrivateMessage()
        settings = await self.bot.state.server_settings(interaction.guild_id)
        if settings.docs_role is not None and not may_manage(interaction, settings):
            raise DocsRoleRequired(settings.docs_role)
        return True

    @docs.command(name="add", description="Add a document (a file or a web page) to this server's story.")
    @app_commands.describe(
        file="A document to upload (.txt, .md, .html or .pdf)",
        url="Or the address of a web page, PDF or text file (http or https)",
    )
    async def add(
        self,
        interaction: discord.Interaction,
        file: discord.Attachment | None = None,
        url: app_commands.Range[str, 1, URL_CHARS] | None = None,
    ) -> None:
        check_one_source(file is not None, url)
        if file is not None:
            check_upload(file.filename, file.size, self.bot.settings.max_upload_bytes)
        await interaction.response.defer(ephemeral=True, thinking=True)
        collection = collection_for(interaction.guild_id)

        async def show(text: str) -> None:
            await interaction.edit_original_response(content=text, allowed_mentions=NO_PINGS)

        async with ThrottledEdits(show, self.bot.progress_interval) as edits:

            def report(status: IndexingStatus) -> None:  # called from the worker thread indexing
                edits.update_from_thread(progress_text(status))

            if file is not None:
                data = await self.download(file)
                added = await self.bot.backend.add_document(data, file.filename, collection, report)
            else:
                assert url is not None
                added = await self.bot.backend.add_url(url.strip(), collection, report)
        await interaction.edit_original_response(content=added_text(added), allowed_mentions=NO_PINGS)
        result = added.result
        log_event(
            log,
            "document_added",
            guild=interaction.guild_id,
            source=result.source,
            passages=result.passages,
            added=result.added,
            removed=result.removed,
            url=bool(added.url),
        )

    @staticmethod
    async def download(file: discord.Attachment) -> bytes:
        try:
            return await file.read()
        except discord.HTTPException:
            raise StoryBotError("I couldn't download that file from Discord; please try again.") from None

    @docs.command(name="remove", description="Remove a document from this server's story.")
    @app_commands.describe(source="The document's title, name or address (see /docs list)")
    async def remove(self, interaction: discord.Interaction, source: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        collection = collection_for(interaction.guild_id)
        removed = await self.bot.backend.remove(source, collection)
        note = ""
        if not await self.bot.backend.own_sources(collection):
            fallback = await self.bot.backend.answering_sources(collection)
            what = "the bundled sample story" if fallback.sample else "the bot's default documents"
            note = f" No documents are left, so answers come from {what} again."
        name = escape_markdown(removed.info.label)
        text = f"Removed **{name}** ({plural(removed.passages, 'passage')}).{note}"
        await interaction.edit_original_response(content=text, allowed_mentions=NO_PINGS)
        log_event(log, "document_removed", guild=interaction.guild_id, source=removed.info.source)

    @remove.autocomplete("source")
    async def remove_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """Only the server's own documents (the sample it falls back to is not its to remove),
        and nothing for a member the documents role leaves out."""
        try:
            if interaction.guild_id is None:
                return []
            if not may_manage(interaction, await self.bot.state.server_settings(interaction.guild_id)):
                return []
            infos = await self.bot.backend.own_sources(collection_for(interaction.guild_id))
        except Exception:
            log_event(log, "autocomplete_failed", logging.WARNING, exc_info=True, guild=interaction.guild_id)
            return []
        return source_choices(infos, current)

    @docs.command(name="list", description="List this server's documents.")
    async def list_docs(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        listing = await self.bot.backend.answering_sources(collection_for(interaction.guild_id))
        pages = render_listing(listing.sources, in_guild=True, own=listing.own, sample=listing.sample)
        await interaction.edit_original_response(embeds=[to_embed(pages[0])], allowed_mentions=NO_PINGS)
        for page in pages[1:]:
            await interaction.followup.send(embed=to_embed(page), ephemeral=True, allowed_mentions=NO_PINGS)
