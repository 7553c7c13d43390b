"""The buttons under an answer: Show passage [n], 👍 / 👎, and ◀ / ▶ for long answers.

They are ``DynamicItem``s: the custom id carries a registry key (and the citation, vote or page),
so any click is routed here, even long after the message was sent, with no per-message view
kept in memory.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, cast

import discord

from bot.discord.errors import ExpiredMessage
from bot.discord.feedback import VOTES, Vote
from bot.discord.registry import Shown
from bot.discord.render import render_passage
from bot.discord.replies import NO_PINGS, reply_error, to_embed

if TYPE_CHECKING:
    from typing import Self

    from bot.discord.client import StoryBot

PASSAGE_BUTTONS_PER_PAGE = 5


def story_bot(interaction: discord.Interaction) -> StoryBot:
    return cast("StoryBot", interaction.client)


def lookup(interaction: discord.Interaction, key: str) -> Shown:
    shown = story_bot(interaction).registry.get(key)
    if shown is None:
        raise ExpiredMessage()
    return shown


async def guarded(interaction: discord.Interaction, action: Awaitable[None], where: str) -> None:
    """Run a button's action; any failure becomes a polite ephemeral reply."""
    try:
        await action
    except Exception as exc:
        await reply_error(interaction, exc, where)


PASSAGE_ID = r"sb:p:(?P<key>[0-9a-f]{16}):(?P<n>\d{1,3})"
VOTE_ID = r"sb:v:(?P<key>[0-9a-f]{16}):(?P<vote>up|down)"
PAGE_ID = r"sb:g:(?P<key>[0-9a-f]{16}):(?P<page>\d{1,3}):(?P<way>prev|next)"


class PassageButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=PASSAGE_ID):
    """Shows the full cited passage, with some context, to the clicker only."""

    def __init__(self, key: str, n: int) -> None:
        button: discord.ui.Button[Any] = discord.ui.Button(
            label=f"Show passage [{n}]",
            style=discord.ButtonStyle.secondary,
            custom_id=f"sb:p:{key}:{n}",
            emoji="📖",
            row=0,
        )
        super().__init__(button)
        self.key, self.n = key, n

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> Self:
        return cls(match["key"], int(match["n"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await guarded(interaction, show_passage(interaction, self.key, self.n), "show passage")


class VoteButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=VOTE_ID):
    """Stores a 👍 / 👎 vote on the answer."""

    def __init__(self, key: str, vote: Vote) -> None:
        button: discord.ui.Button[Any] = discord.ui.Button(
            style=discord.ButtonStyle.secondary,
            custom_id=f"sb:v:{key}:{vote}",
            emoji="👍" if vote == "up" else "👎",
            row=1,
        )
        super().__init__(button)
        self.key, self.vote = key, vote

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> Self:
        return cls(match["key"], cast(Vote, match["vote"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await guarded(interaction, record_vote(interaction, self.key, self.vote), "vote")


class PageButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=PAGE_ID):
    """Turns the page of a long answer or summary."""

    def __init__(self, key: str, page: int, way: str, disabled: bool = False) -> None:
        button: discord.ui.Button[Any] = discord.ui.Button(
            label="◀ Previous" if way == "prev" else "Next ▶",
            style=discord.ButtonStyle.primary,
            custom_id=f"sb:g:{key}:{page}:{way}",
            disabled=disabled,
            row=2,
        )
        super().__init__(button)
        self.key, self.page = key, page

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> Self:
        return cls(match["key"], int(match["page"]), match["way"])

    async def callback(self, interaction: discord.Interaction) -> None:
        await guarded(interaction, turn_page(interaction, self.key, self.page), "turn page")


DYNAMIC_ITEMS: tuple[type[discord.ui.DynamicItem[Any]], ...] = (PassageButton, VoteButton, PageButton)


def build_view(key: str, shown: Shown, page: int) -> discord.ui.View:
    """The buttons for one page: its citations' passages, the vote, and page turning."""
    view = discord.ui.View(timeout=None)
    on_page = shown.pages[page].citations[:PASSAGE_BUTTONS_PER_PAGE]
    for n in on_page:
        view.add_item(PassageButton(key, n))
    for vote in VOTES:
        view.add_item(VoteButton(key, vote))
    last = len(shown.pages) - 1
    if last > 0:
        view.add_item(PageButton(key, max(page - 1, 0), "prev", disabled=page == 0))
        view.add_item(PageButton(key, min(page + 1, last), "next", disabled=page == last))
    return view


def message_parts(key: str, shown: Shown, page: int = 0) -> tuple[discord.Embed, discord.ui.View]:
    page = max(0, min(page, len(shown.pages) - 1))
    return to_embed(shown.pages[page]), build_view(key, shown, page)


async def show_passage(interaction: discord.Interaction, key: str, n: int) -> None:
    shown = lookup(interaction, key)
    citation = shown.citation(n)
    if citation is None:
        raise ExpiredMessage()
    await interaction.response.defer(ephemeral=True, thinking=True)
    text = await story_bot(interaction).backend.document_text(citation.source, shown.collection)
    page = render_passage(citation, text)
    await interaction.followup.send(embed=to_embed(page), ephemeral=True, allowed_mentions=NO_PINGS)


async def record_vote(interaction: discord.Interaction, key: str, vote: Vote) -> None:
    shown = lookup(interaction, key)
    await interaction.response.defer(ephemeral=True, thinking=True)
    bot = story_bot(interaction)
    await asyncio.to_thread(
        bot.feedback.record,
        question=shown.question,
        answer=shown.text,
        citations=shown.citations,
        vote=vote,
        user_id=interaction.user.id,
        guild_id=interaction.guild_id,
        kind=shown.kind,
        grounded=shown.grounded,
    )
    thanks = "Thanks! Glad it helped." if vote == "up" else "Thanks, noted: this helps improve the answers."
    await interaction.followup.send(thanks, ephemeral=True, allowed_mentions=NO_PINGS)


async def turn_page(interaction: discord.Interaction, key: str, page: int) -> None:
    shown = lookup(interaction, key)
    embed, view = message_parts(key, shown, page)
    await interaction.response.edit_message(embed=embed, view=view, allowed_mentions=NO_PINGS)
