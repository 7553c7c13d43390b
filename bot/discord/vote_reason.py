"""The 👎 modal: an optional one-line reason for a thumbs down, kept with the vote.

The 👎 itself is recorded when the button is pressed, before the modal opens, so closing the modal
loses nothing. Like the buttons, the modal keeps nothing in memory: its custom id carries the
answer's id and its submit is handled by a listener here, so a reason typed across a restart, or
submitted to another bot of the fleet, is still saved. That is also why :func:`reason_modal`
stops the modal before it is sent: discord.py does not register a stopped modal, and would
otherwise keep every dismissed one in memory.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast

import discord
from discord.ext import commands

from bot.discord.replies import NO_PINGS, reply_error

if TYPE_CHECKING:
    from bot.discord.client import StoryBot

MODAL_ID = re.compile(r"sb:why:(?P<id>[0-9a-f]{16,32})")
REASON_INPUT_ID = "reason"
REASON_MAX_CHARS = 200
TITLE_NEW = "Thanks for the 👎"
TITLE_CHANGED = "Changed your vote to 👎"
REASON_LABEL = "What was wrong? (optional, one line)"
REASON_PLACEHOLDER = "e.g. it quoted the wrong passage, or the story does say"
THANKS_WITH_REASON = "Thanks: your 👎 and its reason are noted for the maintainers."
THANKS = "Thanks: your 👎 is noted."


class ReasonModal(discord.ui.Modal):
    """Asks what was wrong with an answer; a blank field, like closing the modal, keeps the 👎 as is."""

    def __init__(self, answer_id: str, *, changed: bool) -> None:
        super().__init__(title=TITLE_CHANGED if changed else TITLE_NEW, custom_id=f"sb:why:{answer_id}", timeout=None)
        self.add_item(
            discord.ui.TextInput(
                label=REASON_LABEL,
                custom_id=REASON_INPUT_ID,
                style=discord.TextStyle.short,
                placeholder=REASON_PLACEHOLDER,
                required=False,
                max_length=REASON_MAX_CHARS,
            )
        )


def reason_modal(answer_id: str, *, changed: bool) -> ReasonModal:
    """The modal to send, stopped so that discord.py keeps no copy (see the module docstring)."""
    modal = ReasonModal(answer_id, changed=changed)
    modal.stop()
    return modal


def modal_answer_id(custom_id: str) -> str | None:
    """The answer a submitted modal is about, if it is the 👎 reason modal."""
    match = MODAL_ID.fullmatch(custom_id)
    return match["id"] if match else None


def submitted_text(components: Iterable[dict[str, Any]], custom_id: str) -> str:
    """A text input's value in a modal submit: inside action rows, or in a label (its newer layout)."""
    for component in components:
        children = component.get("components") or ([component["component"]] if "component" in component else [])
        if children:
            found = submitted_text(children, custom_id)
            if found:
                return found
        elif component.get("custom_id") == custom_id:
            return str(component.get("value") or "")
    return ""


class VoteReasonCog(commands.Cog):
    """Saves the reasons typed into 👎 modals, whichever bot process sent the modal."""

    def __init__(self, bot: StoryBot) -> None:
        self.bot = bot

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction) -> None:
        if interaction.type is not discord.InteractionType.modal_submit:
            return
        data = cast(dict[str, Any], interaction.data or {})
        answer_id = modal_answer_id(str(data.get("custom_id", "")))
        if answer_id is None:
            return
        reason = submitted_text(data.get("components") or [], REASON_INPUT_ID)
        try:
            await self.save_reason(interaction, answer_id, reason)
        except Exception as exc:
            await reply_error(interaction, exc, "vote reason")

    async def save_reason(self, interaction: discord.Interaction, answer_id: str, reason: str) -> None:
        """Acknowledge at once, keep the reason (a blank one changes nothing), and thank privately."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        if reason.strip():
            message_id = interaction.message.id if interaction.message else None
            user_hash = self.bot.hash_user(interaction.user.id)
            await self.bot.state.save_vote_reason(answer_id, user_hash, reason, message_id)
        text = THANKS_WITH_REASON if reason.strip() else THANKS
        await interaction.edit_original_response(content=text, allowed_mentions=NO_PINGS)
