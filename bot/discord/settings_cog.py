"""/settings: view and change how story-bot works in this server (see ``server_settings``).

The command declares Manage Server as its default permission and checks nothing more at run
time: who may use it is Discord's to decide, and an admin's overrides in Server Settings →
Integrations are honoured.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.replies import NO_PINGS, to_embed
from bot.discord.server_settings import (
    ASK_VISIBILITIES,
    MENTION_REPLIES,
    RoleChoice,
    SettingsChange,
    describe_changes,
    render_settings,
    stored_changes,
)
from bot.logs import log_event

if TYPE_CHECKING:
    from bot.discord.client import StoryBot

log = logging.getLogger("storybot.discord")

# Channels members talk in: text and announcement channels, forums (their posts are threads)
# and voice channels' text chat.
AnswerChannel = discord.TextChannel | discord.ForumChannel | discord.VoiceChannel


def role_choice(role: discord.Role | None) -> RoleChoice | None:
    if role is None:
        return None
    return RoleChoice(role.id, everyone=role.is_default(), managed=role.managed)


class SettingsCog(commands.Cog):
    """Per-server settings, stored in the bot's database."""

    def __init__(self, bot: StoryBot) -> None:
        self.bot = bot

    @app_commands.command(name="settings", description="View or change where and how story-bot answers here.")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.describe(
        add_channel="Answer mentions in this channel (once any is listed, only in listed ones)",
        remove_channel="Stop answering mentions in this listed channel",
        all_channels="True: answer mentions in every channel again",
        mention_reply="Whether a mention opens a thread or is answered in place",
        ask_visibility="Whether /ask answers are public or seen only by the asker",
        docs_role="A role that may manage documents besides Manage Server",
        clear_docs_role="True: no documents role (Discord's permissions alone decide)",
    )
    @app_commands.choices(
        mention_reply=[app_commands.Choice(name=label, value=key) for key, label in MENTION_REPLIES.items()],
        ask_visibility=[app_commands.Choice(name=label, value=key) for key, label in ASK_VISIBILITIES.items()],
    )
    async def settings(
        self,
        interaction: discord.Interaction,
        add_channel: AnswerChannel | None = None,
        remove_channel: AnswerChannel | None = None,
        all_channels: bool = False,
        mention_reply: str | None = None,
        ask_visibility: str | None = None,
        docs_role: discord.Role | None = None,
        clear_docs_role: bool = False,
    ) -> None:
        """Show the settings; with options, change them first (all or nothing)."""
        if interaction.guild_id is None:
            raise app_commands.NoPrivateMessage()
        change = SettingsChange(
            add_channel=add_channel.id if add_channel is not None else None,
            remove_channel=remove_channel.id if remove_channel is not None else None,
            all_channels=all_channels,
            mention_reply=mention_reply,
            ask_visibility=ask_visibility,
            docs_role=role_choice(docs_role),
            clear_docs_role=clear_docs_role,
        )
        await interaction.response.defer(ephemeral=True, thinking=True)
        before = await self.bot.state.server_settings(interaction.guild_id, fresh=True)
        note = ""
        after = before
        if not change.empty:
            changes = stored_changes(before, change)
            after = await self.bot.state.change_server_settings(interaction.guild_id, changes)
            note = describe_changes(before, after)
            log_event(log, "settings_changed", guild=interaction.guild_id, keys=",".join(sorted(changes)) or "-")
        pages = render_settings(after, answer_dms=self.bot.settings.answer_dms, note=note)
        await interaction.edit_original_response(embed=to_embed(pages[0]), allowed_mentions=NO_PINGS)
