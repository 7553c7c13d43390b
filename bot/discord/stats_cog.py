"""``/stats``: for members with Manage Server, what was asked here and what could not be answered.

Who may run it is Discord's business: the command declares Manage Server as its default
permission and admins can change that in Server Settings → Integrations, so there is no check
of our own to contradict them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.replies import NO_PINGS, to_embed
from bot.discord.stats_page import render_stats

if TYPE_CHECKING:
    from bot.discord.client import StoryBot


class StatsCog(commands.Cog):
    """The admin's view of the question log and the votes."""

    def __init__(self, bot: StoryBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="stats", description="Questions asked here in the last 7 and 30 days, what went unanswered, 👍 and 👎."
    )
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    async def stats(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        report = await self.bot.state.stats_report(interaction.guild_id)
        await interaction.edit_original_response(embed=to_embed(render_stats(report)), allowed_mentions=NO_PINGS)
