"""The controls under an answer: Show passage (buttons, or a menu past five citations), 👍 / 👎,
the closest passage of a refusal, and page turning for long answers.

They are ``DynamicItem``s: the custom id carries the answer's id in the database (and the
citation, vote or page), so any click is routed here, even after a restart or on another bot of
the fleet, with no per-message view kept in memory. Every click is acknowledged at once (a
deferred update), then answered privately; 👎 is recorded and answered with a modal offering to
say why (``vote_reason``). An answer past the retention period has its buttons disabled with a
note instead.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, cast

import discord

from bot.discord import limits
from bot.discord.feedback import VOTES, Vote
from bot.discord.render import Page, render_passage, render_related, source_name
from bot.discord.replies import NO_PINGS, reply_error, to_embed
from bot.discord.shown import Shown
from bot.discord.vote_reason import reason_modal
from bot.logs import log_event

if TYPE_CHECKING:
    from typing import Self

    from bot.discord.client import StoryBot

log = logging.getLogger("storybot.discord")

PASSAGE_BUTTONS = 5  # one row of buttons; more citations get a menu
SELECT_OPTIONS = 25  # Discord's limit per menu
EXPIRED_NOTE = (
    "-# The buttons of this answer have expired: answers are kept for {days} days. Ask again for a fresh one."
)
RELATED_LABEL = "Closest passage (not an answer)"

# Answer ids are 32 hex digits; 16 were the in-memory keys of older versions, whose buttons
# still reach the handlers and are disabled with a note instead of failing silently.
ANSWER_ID = r"(?P<id>[0-9a-f]{16,32})"
PASSAGE_ID = rf"sb:p:{ANSWER_ID}:(?P<n>\d{{1,3}})"
SELECT_ID = rf"sb:s:{ANSWER_ID}:(?P<page>\d{{1,3}})"
VOTE_ID = rf"sb:v:{ANSWER_ID}:(?P<vote>up|down)"
PAGE_ID = rf"sb:g:{ANSWER_ID}:(?P<page>\d{{1,3}}):(?P<way>prev|next)"
RELATED_ID = rf"sb:r:{ANSWER_ID}"


def answer_id_of(message: discord.Message) -> str | None:
    """The answer a message shows, read from its controls: every button of an answer carries its id."""
    for row in message.components:
        for child in getattr(row, "children", ()):
            match = _ANY_ID.match(getattr(child, "custom_id", None) or "")
            if match:
                return match.group("id")
    return None


_ANY_ID = re.compile(rf"sb:[pvgsr]:{ANSWER_ID}(?::|$)")


def story_bot(interaction: discord.Interaction) -> StoryBot:
    return cast("StoryBot", interaction.client)


async def guarded(interaction: discord.Interaction, action: Awaitable[None], where: str) -> None:
    """Run a control's action; any failure becomes a polite ephemeral reply."""
    try:
        await action
    except Exception as exc:
        await reply_error(interaction, exc, where)


class PassageButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=PASSAGE_ID):
    """Shows the full cited passage, with some context, to the clicker only."""

    def __init__(self, answer_id: str, n: int) -> None:
        button: discord.ui.Button[Any] = discord.ui.Button(
            label=f"Show passage [{n}]",
            style=discord.ButtonStyle.secondary,
            custom_id=f"sb:p:{answer_id}:{n}",
            emoji="📖",
            row=0,
        )
        super().__init__(button)
        self.answer_id, self.n = answer_id, n

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> Self:
        return cls(match["id"], int(match["n"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await guarded(interaction, show_passage(interaction, self.answer_id, self.n), "show passage")


class PassageSelect(discord.ui.DynamicItem[discord.ui.Select[Any]], template=SELECT_ID):
    """ "Show passage" for answers with more citations than a row of buttons holds."""

    def __init__(self, answer_id: str, page: int, options: list[discord.SelectOption] | None = None) -> None:
        select: discord.ui.Select[Any] = discord.ui.Select(
            custom_id=f"sb:s:{answer_id}:{page}",
            placeholder="📖 Show passage…",
            options=options or [discord.SelectOption(label="[1]", value="1")],
            row=0,
        )
        super().__init__(select)
        self.answer_id = answer_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> Self:
        return cls(match["id"], int(match["page"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        chosen = self.item.values[0] if self.item.values else ""
        n = int(chosen) if chosen.isdigit() else -1
        await guarded(interaction, show_passage(interaction, self.answer_id, n), "show passage")


class VoteButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=VOTE_ID):
    """Records a 👍 / 👎 vote on the answer (one per person, changeable)."""

    def __init__(self, answer_id: str, vote: Vote) -> None:
        button: discord.ui.Button[Any] = discord.ui.Button(
            style=discord.ButtonStyle.secondary,
            custom_id=f"sb:v:{answer_id}:{vote}",
            emoji="👍" if vote == "up" else "👎",
            row=1,
        )
        super().__init__(button)
        self.answer_id, self.vote = answer_id, vote

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> Self:
        return cls(match["id"], cast(Vote, match["vote"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        record = record_down_vote if self.vote == "down" else record_up_vote
        await guarded(interaction, record(interaction, self.answer_id), "vote")


class RelatedButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=RELATED_ID):
    """A refusal's closest passage, shown on request and labelled as not an answer."""

    def __init__(self, answer_id: str) -> None:
        button: discord.ui.Button[Any] = discord.ui.Button(
            label=RELATED_LABEL, style=discord.ButtonStyle.secondary, custom_id=f"sb:r:{answer_id}", row=1
        )
        super().__init__(button)
        self.answer_id = answer_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> Self:
        return cls(match["id"])

    async def callback(self, interaction: discord.Interaction) -> None:
        await guarded(interaction, show_related(interaction, self.answer_id), "closest passage")


class PageButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=PAGE_ID):
    """Turns the page of a long answer or summary, for the clicker only."""

    def __init__(self, answer_id: str, page: int, way: str, disabled: bool = False) -> None:
        button: discord.ui.Button[Any] = discord.ui.Button(
            label="◀ Previous" if way == "prev" else "Next ▶",
            style=discord.ButtonStyle.primary,
            custom_id=f"sb:g:{answer_id}:{page}:{way}",
            disabled=disabled,
            row=2,
        )
        super().__init__(button)
        self.answer_id, self.page = answer_id, page

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> Self:
        return cls(match["id"], int(match["page"]), match["way"])

    async def callback(self, interaction: discord.Interaction) -> None:
        await guarded(interaction, turn_page(interaction, self.answer_id, self.page), "turn page")


DYNAMIC_ITEMS: tuple[type[discord.ui.DynamicItem[Any]], ...] = (
    PassageButton,
    PassageSelect,
    VoteButton,
    RelatedButton,
    PageButton,
)


def passage_options(shown: Shown, numbers: tuple[int, ...]) -> list[discord.SelectOption]:
    """Menu entries ``[n] source`` (a web page by its title) with the start of the quote, within
    Discord's lengths."""
    options = []
    for n in numbers[:SELECT_OPTIONS]:
        citation = shown.citation(n)
        if citation is None:
            continue
        label = limits.truncate(f"[{n}] {source_name(citation.source, shown.labels)}", limits.SELECT_OPTION_TEXT)
        quote = limits.truncate(" ".join(citation.passage.split()), limits.SELECT_OPTION_TEXT)  # plain text
        options.append(discord.SelectOption(label=label, value=str(n), description=quote))
    return options


def build_view(shown: Shown, page: int, *, public: bool) -> discord.ui.View:
    """The controls for one page: its citations' passages, then (on the message everyone sees)
    the vote and a refusal's closest passage, then page turning."""
    view = discord.ui.View(timeout=None)
    numbers = shown.pages[page].citations
    if len(numbers) > PASSAGE_BUTTONS:
        view.add_item(PassageSelect(shown.answer_id, page, passage_options(shown, numbers)))
    else:
        for n in numbers:
            view.add_item(PassageButton(shown.answer_id, n))
    if public:
        for vote in VOTES:
            view.add_item(VoteButton(shown.answer_id, vote))
    if shown.related and not shown.grounded:
        view.add_item(RelatedButton(shown.answer_id))
    last = len(shown.pages) - 1
    if last > 0 and public:
        view.add_item(PageButton(shown.answer_id, 1, "next"))
    elif last > 0:
        view.add_item(PageButton(shown.answer_id, max(page - 1, 0), "prev", disabled=page == 0))
        view.add_item(PageButton(shown.answer_id, min(page + 1, last), "next", disabled=page == last))
    return view


def message_parts(shown: Shown, page: int = 0, *, public: bool = True) -> tuple[discord.Embed, discord.ui.View]:
    """An answer's embed and controls: the first page for everyone, or any page for one person."""
    page = max(0, min(page, len(shown.pages) - 1))
    return to_embed(shown.pages[page]), build_view(shown, page, public=public)


async def current_answer(interaction: discord.Interaction, answer_id: str) -> Shown | None:
    """Acknowledge the click, then load its answer (see :func:`usable_answer`)."""
    await interaction.response.defer()
    return await usable_answer(interaction, answer_id)


async def usable_answer(interaction: discord.Interaction, answer_id: str) -> Shown | None:
    """The clicked answer; one that is unknown (purged, or from before the database) or past
    retention gets its buttons disabled with a note (the click acknowledged if it was not), and None."""
    bot = story_bot(interaction)
    shown = await bot.state.shown(answer_id)
    if shown is not None and not bot.state.is_expired(shown.created_at):
        return shown
    if not interaction.response.is_done():
        await interaction.response.defer()
    await disable_controls(interaction, EXPIRED_NOTE.format(days=bot.settings.retention_days))
    log_event(log, "expired_click", answer=answer_id, known=shown is not None)
    return None


async def disable_controls(interaction: discord.Interaction, note: str) -> None:
    """Edit the clicked message: every control disabled, and a note saying why."""
    if interaction.message is None:
        return
    view = discord.ui.View.from_message(interaction.message, timeout=None)
    for item in view.children:
        if isinstance(item, discord.ui.Button | discord.ui.Select):
            item.disabled = True
    await interaction.edit_original_response(content=note, view=view, allowed_mentions=NO_PINGS)


async def send_page(interaction: discord.Interaction, page: Page) -> None:
    await interaction.followup.send(embed=to_embed(page), ephemeral=True, allowed_mentions=NO_PINGS)


async def show_passage(interaction: discord.Interaction, answer_id: str, n: int) -> None:
    shown = await current_answer(interaction, answer_id)
    if shown is None:
        return
    citation = shown.citation(n)
    if citation is None:
        await send_ephemeral_text(interaction, "That passage is not part of this answer.")
        return
    text = await story_bot(interaction).backend.document_text(citation.source, shown.collection)
    await send_page(interaction, render_passage(citation, text, labels=shown.labels))


async def show_related(interaction: discord.Interaction, answer_id: str) -> None:
    shown = await current_answer(interaction, answer_id)
    if shown is None:
        return
    if not shown.related:
        await send_ephemeral_text(interaction, "There is no passage close to that question.")
        return
    citation = shown.related[0]
    text = await story_bot(interaction).backend.document_text(citation.source, shown.collection)
    await send_page(interaction, render_related(citation, text, shown.labels))


async def record_up_vote(interaction: discord.Interaction, answer_id: str) -> None:
    shown = await current_answer(interaction, answer_id)
    if shown is None:
        return
    bot = story_bot(interaction)
    message_id = interaction.message.id if interaction.message else None
    changed = await bot.state.record_vote(answer_id, bot.hash_user(interaction.user.id), "up", message_id)
    text = "Changed your vote to 👍. Thanks!" if changed else "Thanks! Glad it helped. (Click 👎 to change your vote.)"
    await send_ephemeral_text(interaction, text)


async def record_down_vote(interaction: discord.Interaction, answer_id: str) -> None:
    """👎 is recorded at once, then a modal offers to say why; closing it keeps the vote. A modal
    must be a click's first response, so this click is acknowledged by the modal itself, after
    the quick look-up and write (not by a deferral, as other clicks are)."""
    if await usable_answer(interaction, answer_id) is None:
        return
    bot = story_bot(interaction)
    message_id = interaction.message.id if interaction.message else None
    changed = await bot.state.record_vote(answer_id, bot.hash_user(interaction.user.id), "down", message_id)
    await interaction.response.send_modal(reason_modal(answer_id, changed=changed))


async def turn_page(interaction: discord.Interaction, answer_id: str, page: int) -> None:
    """Another page, for the clicker only: a private copy of the answer opened at that page,
    whose own buttons then turn its pages in place."""
    shown = await current_answer(interaction, answer_id)
    if shown is None:
        return
    embed, view = message_parts(shown, page, public=False)
    message = interaction.message
    if message is not None and message.flags.ephemeral:
        await interaction.edit_original_response(embed=embed, view=view, allowed_mentions=NO_PINGS)
    else:
        await interaction.followup.send(embed=embed, view=view, ephemeral=True, allowed_mentions=NO_PINGS)


async def send_ephemeral_text(interaction: discord.Interaction, text: str) -> None:
    await interaction.followup.send(limits.truncate(text, limits.CONTENT), ephemeral=True, allowed_mentions=NO_PINGS)
