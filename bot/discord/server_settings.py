"""Per-server settings: where and how the bot answers, and who besides Manage Server may manage
documents. Plain logic over plain data: the cogs read and write them through ``bot.discord.state``
and obey them; nothing here imports Discord.

They are stored per guild in the bot's database (``bot.state``'s guild settings, a JSON dict),
under these keys; an absent key means the default:

* ``mention_channels``: channel ids (strings) where mentions, replies and thread follow-ups are
  answered, threads inside them included; absent or empty, every channel;
* ``mention_reply``: ``"thread"`` (a mention opens a thread, the default) or ``"here"`` (the
  answer is a reply in place);
* ``ask_visibility``: ``"public"`` (the default) or ``"private"`` (``/ask`` answers are visible
  only to the asker);
* ``docs_role``: a role id (string) whose members may use ``/docs`` besides Manage Server.

Whether direct messages are answered is not a server's choice (a DM belongs to no server): it is
the bot-wide ``answer_dms`` setting (``STORYBOT_ANSWER_DMS``).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from bot.discord.render import Field, Page, paginate
from bot.discord.routing import MessageRoute
from index.errors import StoryBotError

log = logging.getLogger("storybot.discord")

MAX_MENTION_CHANNELS = 25
MENTION_REPLIES = {"thread": "Open a thread", "here": "Answer in place"}
ASK_VISIBILITIES = {"public": "Public", "private": "Only the asker"}

DMS_CLOSED = "I don't answer direct messages; please ask me in a server we share."
PERMISSIONS_NOTE = (
    "Who may use `/docs` and `/settings` is Discord's to decide: by default members with **Manage Server**; "
    "change it in Server Settings → Integrations → story-bot. A bot can't change those permissions "
    "itself, so a documents role works inside them: open `/docs` to everyone (or to that role) in "
    "Integrations, then set `docs_role` here, and only Manage Server and that role may use it."
)


class SettingsError(StoryBotError):
    """A change to the server's settings that can't be made (shown to the admin as it is)."""


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """One server's settings, with the defaults for whatever it never changed."""

    mention_channels: tuple[int, ...] = ()  # empty: every channel
    mention_reply: str = "thread"
    ask_visibility: str = "public"
    docs_role: int | None = None

    @property
    def answers_in_place(self) -> bool:
        return self.mention_reply == "here"

    @property
    def private_answers(self) -> bool:
        return self.ask_visibility == "private"

    def answers_in(self, channel_id: int, parent_id: int | None = None) -> bool:
        """Whether messages in a channel (or a thread inside ``parent_id``) may be answered."""
        if not self.mention_channels:
            return True
        return channel_id in self.mention_channels or (parent_id is not None and parent_id in self.mention_channels)


@dataclass(frozen=True, slots=True)
class RoleChoice:
    """The role an admin picked for ``docs_role``, with what makes it unfit: @everyone (every
    member already), or a role managed by an integration (nobody can be given it)."""

    id: int
    everyone: bool = False
    managed: bool = False


@dataclass(frozen=True, slots=True)
class SettingsChange:
    """The options of one ``/settings`` call (None or False: leave as it is)."""

    add_channel: int | None = None
    remove_channel: int | None = None
    all_channels: bool = False
    mention_reply: str | None = None
    ask_visibility: str | None = None
    docs_role: RoleChoice | None = None
    clear_docs_role: bool = False

    @property
    def empty(self) -> bool:
        return self == SettingsChange()


def _snowflake(value: Any) -> int | None:
    text = str(value)
    return int(text) if text.isdigit() else None


def settings_from_stored(stored: Mapping[str, Any]) -> ServerSettings:
    """A server's settings from the database. A value that is not understood (written by hand,
    or by a newer version) counts as unset rather than failing every message of the server."""
    channels = stored.get("mention_channels")
    ids = [_snowflake(c) for c in channels] if isinstance(channels, list) else []
    reply = stored.get("mention_reply")
    visibility = stored.get("ask_visibility")
    role = stored.get("docs_role")
    return ServerSettings(
        mention_channels=tuple(dict.fromkeys(i for i in ids if i is not None)),
        mention_reply=reply if reply in MENTION_REPLIES else "thread",
        ask_visibility=visibility if visibility in ASK_VISIBILITIES else "public",
        docs_role=_snowflake(role) if role is not None else None,
    )


def stored_changes(current: ServerSettings, change: SettingsChange) -> dict[str, Any]:
    """The database changes for one ``/settings`` call (None restores a default), or a
    :class:`SettingsError` saying politely why it can't be made."""
    changes: dict[str, Any] = {}
    channels = _channel_list(current.mention_channels, change)
    if channels != current.mention_channels:
        changes["mention_channels"] = [str(c) for c in channels] or None
    if change.mention_reply is not None:
        if change.mention_reply not in MENTION_REPLIES:
            raise SettingsError(f"`mention_reply` is one of: {', '.join(MENTION_REPLIES)}.")
        changes["mention_reply"] = None if change.mention_reply == "thread" else change.mention_reply
    if change.ask_visibility is not None:
        if change.ask_visibility not in ASK_VISIBILITIES:
            raise SettingsError(f"`ask_visibility` is one of: {', '.join(ASK_VISIBILITIES)}.")
        changes["ask_visibility"] = None if change.ask_visibility == "public" else change.ask_visibility
    if change.docs_role is not None and change.clear_docs_role:
        raise SettingsError("Choose either `docs_role` or `clear_docs_role`, not both.")
    if change.docs_role is not None:
        changes["docs_role"] = str(_fit_role(change.docs_role))
    elif change.clear_docs_role:
        changes["docs_role"] = None
    return changes


def _channel_list(current: tuple[int, ...], change: SettingsChange) -> tuple[int, ...]:
    """The channels where mentions are answered after the change (empty: all of them)."""
    if change.all_channels and (change.add_channel is not None or change.remove_channel is not None):
        raise SettingsError("`all_channels` answers everywhere, so it can't be combined with adding or removing one.")
    if change.all_channels:
        return ()
    if change.add_channel is not None and change.add_channel == change.remove_channel:
        raise SettingsError(f"You asked to add and remove <#{change.add_channel}> at once; please pick one.")
    channels = list(current)
    if change.remove_channel is not None:
        if change.remove_channel not in channels:
            raise SettingsError(f"<#{change.remove_channel}> is not in the list of channels where I answer mentions.")
        channels.remove(change.remove_channel)
        if not channels and change.add_channel is None:
            raise SettingsError(
                "That is the last channel in the list, and an empty list means every channel. "
                "Use `all_channels: True` to answer everywhere, or add another channel first."
            )
    if change.add_channel is not None and change.add_channel not in channels:
        if len(channels) >= MAX_MENTION_CHANNELS:
            raise SettingsError(f"I can answer mentions in at most {MAX_MENTION_CHANNELS} listed channels.")
        channels.append(change.add_channel)
    return tuple(channels)


def _fit_role(role: RoleChoice) -> int:
    if role.everyone:
        raise SettingsError(
            "@everyone would let every member manage documents. To open `/docs` to everyone, "
            "change its permissions in Server Settings → Integrations instead."
        )
    if role.managed:
        raise SettingsError("That role belongs to an integration and can't be given to members; please pick another.")
    return role.id


def may_manage_documents(settings: ServerSettings, *, manage_guild: bool, role_ids: Collection[int]) -> bool:
    """Whether a member Discord let run ``/docs`` may use it: with no documents role set, yes
    (Discord's permissions, and an admin's overrides of them, decide); with one, members with
    Manage Server or that role."""
    return settings.docs_role is None or manage_guild or settings.docs_role in role_ids


def route_in_server(
    route: MessageRoute, settings: ServerSettings, channel_id: int, parent_id: int | None
) -> MessageRoute:
    """A message's route under its server's settings: nothing outside the listed channels (and
    their threads), and a reply in place instead of a new thread when the server prefers it."""
    if route is MessageRoute.IGNORE or not settings.answers_in(channel_id, parent_id):
        return MessageRoute.IGNORE
    if route is MessageRoute.NEW_THREAD and settings.answers_in_place:
        return MessageRoute.REPLY_HERE
    return route


def describe_changes(before: ServerSettings, after: ServerSettings) -> str:
    """What a ``/settings`` call changed, for its reply."""
    names = {
        "mention_channels": "where mentions are answered",
        "mention_reply": "how mentions are answered",
        "ask_visibility": "who sees /ask answers",
        "docs_role": "the documents role",
    }
    changed = [name for key, name in names.items() if getattr(before, key) != getattr(after, key)]
    return f"Changed {', '.join(changed)}." if changed else "Nothing changed: those were the settings already."


def render_settings(settings: ServerSettings, *, answer_dms: bool, note: str = "") -> list[Page]:
    """The server's settings as an embed, with how permissions work (after ``note``, e.g. what
    was just changed)."""
    channels = ", ".join(f"<#{c}>" for c in settings.mention_channels)
    where = f"{channels} (and threads in them)" if channels else "Every channel"
    how = "In place, as a reply" if settings.answers_in_place else "In a new thread made from the message"
    who = "Only the asker" if settings.private_answers else "Everyone in the channel"
    docs = (
        f"Members with **Manage Server** or the <@&{settings.docs_role}> role"
        if settings.docs_role is not None
        else "Whoever Discord lets use `/docs` (Manage Server unless changed in Integrations)"
    )
    dms = "Answered" if answer_dms else "Not answered"
    fields = [
        Field("Mentions answered in (`add_channel`, `remove_channel`, `all_channels`)", where),
        Field("A mention is answered (`mention_reply`)", how),
        Field("/ask answers are seen by (`ask_visibility`)", who),
        Field("Documents are managed by (`docs_role`, `clear_docs_role`)", docs),
        Field("Direct messages (bot-wide, set by the bot's operator)", dms),
    ]
    body = f"{note}\n\n{PERMISSIONS_NOTE}" if note else PERMISSIONS_NOTE
    return paginate("story-bot settings for this server", body, fields)
