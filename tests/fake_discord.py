"""A protocol-level fake Discord: REST and gateway on 127.0.0.1, for the real discord.py client.

The bot under test runs unmodified; only ``discord.http.Route.BASE`` and
``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY`` point here (see :meth:`FakeDiscord.patch_discord`).
The server runs on its own event loop in a background thread, like a remote service: its clock
keeps running while the bot's loop is busy, so a bot that blocks its loop shows up as late
acknowledgements, exactly as on Discord.

It enforces the rules a bot most often breaks, answering as Discord does:

* an interaction callback later than 3 s after the interaction was sent: 404, code 10062;
* a second acknowledgement of one interaction: 400, code 40060;
* content over 2000 characters, embeds over their limits (title 256, description 4096,
  25 fields of 256/1024, footer 2048, 6000 in total), too many or malformed components,
  thread names over 100, autocomplete over 25 choices, modals outside their limits (title 45,
  1..5 text inputs with labels of 45, lengths up to 4000): 400, code 50035;
* an empty message: 400, code 50006; unknown channels, messages and webhooks: 404;
* a reply to a message in another channel: 400, code 50035; a click on someone else's
  ephemeral message or on a disabled control is impossible (the test helper refuses it).

Everything the bot sends is recorded (messages, rejections, pings that Discord would deliver
given the message's ``allowed_mentions``, heartbeats, reactions), and tests drive users' actions:
slash commands, button clicks, menu choices, modal submits, autocomplete, messages that mention the bot or reply
to a message, guilds joining. Members may have nicknames, as display names.

Test helpers are coroutines that can be awaited from any event loop (they run on the fake's own
loop); world-building helpers that touch no connection (users, attachments) are plain methods.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import re
import secrets
import threading
import time
import zlib
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import quote, unquote

import yarl
from aiohttp import WSMsgType, web

T = TypeVar("T")

API = "/api/v10"
DISCORD_EPOCH_MS = 1_420_070_400_000
ACK_DEADLINE_SECONDS = 3.0

# Permission bits (https://discord.com/developers/docs/topics/permissions).
MANAGE_GUILD = 1 << 5
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
USE_APPLICATION_COMMANDS = 1 << 31
CREATE_PUBLIC_THREADS = 1 << 35
SEND_MESSAGES_IN_THREADS = 1 << 38
MEMBER = (
    VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | USE_APPLICATION_COMMANDS
    | CREATE_PUBLIC_THREADS
    | SEND_MESSAGES_IN_THREADS
)
ADMIN = MEMBER | MANAGE_GUILD
ADMINISTRATOR = 1 << 3
MESSAGE_CONTENT_INTENT = 1 << 15

EPHEMERAL = 1 << 6
LOADING = 1 << 7

# Interaction and callback types.
APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 2, 3, 4, 5
CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE, AUTOCOMPLETE_RESULT = 4, 5, 6, 7, 8
MODAL = 9
ALLOWED_CALLBACKS = {
    APPLICATION_COMMAND: {CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, MODAL},
    MESSAGE_COMPONENT: {CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE, MODAL},
    AUTOCOMPLETE: {AUTOCOMPLETE_RESULT},
    # A modal's submit may not open another modal; from a component's modal, it may update the message.
    MODAL_SUBMIT: {CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE},
}

# Channel types.
GUILD_TEXT, DM, PUBLIC_THREAD = 0, 1, 11

# Component types.
ACTION_ROW, BUTTON, SELECT_MENU, TEXT_INPUT, LABEL = 1, 2, 3, 4, 18
TEXT_STYLES = {1, 2}  # short, paragraph


def iso_now() -> str:
    return datetime.now(UTC).isoformat()


class Snowflakes:
    """Discord-style ids: milliseconds since the Discord epoch, then a counter."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
            return (ms << 22) | (next(self._counter) & 0x3FFFFF)


# --- the world ------------------------------------------------------------------------------


@dataclass
class FakeUser:
    id: int
    name: str
    bot: bool = False
    global_name: str | None = None  # the display name chosen for the account, if any

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "username": self.name,
            "global_name": self.global_name,
            "discriminator": "0",
            "avatar": None,
            "bot": self.bot,
            "public_flags": 0,
            "flags": 0,
        }

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"


@dataclass
class FakeApp:
    """A bot application: its token, bot user, registered commands and gateway sessions."""

    id: int
    token: str
    user: FakeUser
    message_content_allowed: bool = True
    recommended_shards: int = 1
    global_commands: list[dict[str, Any]] = field(default_factory=list)
    guild_commands: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    command_puts: list[tuple[int | None, list[dict[str, Any]]]] = field(default_factory=list)

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.user.name,
            "icon": None,
            "description": "",
            "rpc_origins": [],
            "bot_public": True,
            "bot_require_code_grant": False,
            "bot": self.user.payload(),
            "owner": {**FakeUser(self.id + 1, "owner").payload()},
            "team": None,
            "verify_key": "0" * 64,
            "flags": 1 << 19,
            "interactions_endpoint_url": None,
            "redirect_uris": [],
            "tags": [],
        }


@dataclass
class FakeChannel:
    id: int
    name: str
    type: int = GUILD_TEXT
    guild_id: int | None = None
    parent_id: int | None = None
    owner_id: int | None = None
    recipient: FakeUser | None = None
    app_id: int | None = None  # the bot at the other end of a DM

    def payload(self) -> dict[str, Any]:
        if self.type == DM:
            assert self.recipient is not None
            return {"id": str(self.id), "type": DM, "recipients": [self.recipient.payload()], "last_message_id": None}
        data: dict[str, Any] = {
            "id": str(self.id),
            "type": self.type,
            "name": self.name,
            "guild_id": str(self.guild_id),
            "position": 0,
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None if self.parent_id is None else str(self.parent_id),
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "flags": 0,
        }
        if self.type == PUBLIC_THREAD:
            data |= {
                "owner_id": str(self.owner_id),
                "message_count": 0,
                "member_count": 1,
                "total_message_sent": 0,
                "thread_metadata": {
                    "archived": False,
                    "auto_archive_duration": 1440,
                    "archive_timestamp": iso_now(),
                    "locked": False,
                },
            }
        return data


@dataclass
class FakeRole:
    """A server role other than @everyone (``managed``: a bot's or integration's own role)."""

    id: int
    name: str
    managed: bool = False

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "permissions": str(MEMBER),
            "position": 1,
            "color": 0,
            "hoist": False,
            "managed": self.managed,
            "mentionable": False,
            "icon": None,
            "unicode_emoji": None,
            "flags": 0,
        }


@dataclass
class FakeGuild:
    id: int
    name: str
    owner: FakeUser
    members: dict[int, FakeUser]
    channels: list[FakeChannel]
    apps: set[int]
    threads: list[FakeChannel] = field(default_factory=list)
    nicks: dict[int, str] = field(default_factory=dict)  # server nicknames, shown as display names
    roles: list[FakeRole] = field(default_factory=list)
    member_roles: dict[int, set[int]] = field(default_factory=dict)  # user id -> role ids
    # Commands an admin opened to every member in Server Settings -> Integrations, overriding
    # the permissions they declare by default.
    opened_commands: set[str] = field(default_factory=set)

    def member(self, user: FakeUser, permissions: int | None = None) -> dict[str, Any]:
        return member_payload(user, permissions, self.nicks.get(user.id), self.member_roles.get(user.id, ()))

    @property
    def general(self) -> FakeChannel:
        return self.channels[0]

    def everyone_role(self) -> dict[str, Any]:
        return {
            "id": str(self.id),  # the @everyone role's id is the guild's id
            "name": "@everyone",
            "permissions": str(MEMBER),
            "position": 0,
            "color": 0,
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "icon": None,
            "unicode_emoji": None,
            "flags": 0,
        }

    def payload(self, *, lazy: bool = False) -> dict[str, Any]:
        """GUILD_CREATE data: ``lazy`` for the guilds of READY becoming available (they carry
        ``unavailable: false``); a guild the bot has just joined has no ``unavailable`` key."""
        data = {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.owner.id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "preferred_locale": "en-US",
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "vanity_url_code": None,
            "application_id": None,
            "features": [],
            "roles": [self.everyone_role(), *(role.payload() for role in self.roles)],
            "emojis": [],
            "stickers": [],
            "joined_at": iso_now(),
            "large": False,
            "member_count": len(self.members),
            "max_members": 500000,
            "members": [self.member(user) for user in self.members.values()],
            "channels": [c.payload() for c in self.channels],
            "threads": [t.payload() for t in self.threads],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }
        if lazy:
            data["unavailable"] = False
        return data


def member_payload(
    user: FakeUser, permissions: int | None = None, nick: str | None = None, roles: Iterable[int] = ()
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "user": user.payload(),
        "roles": [str(role) for role in sorted(roles)],
        "nick": nick,
        "avatar": None,
        "joined_at": iso_now(),
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "pending": False,
        "flags": 0,
        "communication_disabled_until": None,
    }
    if permissions is not None:
        data["permissions"] = str(permissions)
    return data


@dataclass
class FakeAttachment:
    id: int
    filename: str
    data: bytes
    url: str
    size: int
    content_type: str = "text/plain"

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "filename": self.filename,
            "size": self.size,
            "url": self.url,
            "proxy_url": self.url,
            "content_type": self.content_type,
            "ephemeral": True,
        }


@dataclass
class FakeMessage:
    """A message as Discord stores it (bot messages keep the request's ``allowed_mentions``)."""

    id: int
    channel_id: int
    guild_id: int | None
    author: FakeUser
    content: str = ""
    embeds: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    flags: int = 0
    mentions: list[FakeUser] = field(default_factory=list)
    mention_everyone: bool = False
    allowed_mentions: dict[str, Any] | None = None
    interaction_id: int | None = None
    webhook_id: int | None = None
    reference: int | None = None
    created: str = field(default_factory=iso_now)
    edited: str | None = None
    reactions: list[tuple[str, int]] = field(default_factory=list)  # (emoji, id of who reacted)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def loading(self) -> bool:
        return bool(self.flags & LOADING)

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "channel_id": str(self.channel_id),
            "author": self.author.payload(),
            "content": self.content,
            "timestamp": self.created,
            "edited_timestamp": self.edited,
            "tts": False,
            "mention_everyone": self.mention_everyone,
            "mentions": [u.payload() for u in self.mentions],
            "mention_roles": [],
            "attachments": [],
            "embeds": self.embeds,
            "components": self.components,
            "pinned": False,
            "type": 19 if self.reference else 0,
            "flags": self.flags,
        }
        if self.guild_id is not None:
            data["guild_id"] = str(self.guild_id)
        if self.webhook_id is not None:
            data["webhook_id"] = str(self.webhook_id)
            data["application_id"] = str(self.webhook_id)
        if self.reference is not None:
            data["message_reference"] = {"message_id": str(self.reference), "channel_id": str(self.channel_id)}
        return data

    # --- helpers for assertions ---

    def buttons(self) -> list[dict[str, Any]]:
        """Every component (buttons and menus) of every row."""
        return [c for row in self.components for c in row.get("components", [])]

    def menu(self) -> dict[str, Any] | None:
        """The (first) select menu, if the message has one."""
        return next((c for c in self.buttons() if c.get("type") == SELECT_MENU), None)

    def custom_id(self, label_or_emoji: str) -> str:
        """The custom id of the (first) button whose label or emoji contains the text."""
        for button in self.buttons():
            label = button.get("label") or ""
            emoji = (button.get("emoji") or {}).get("name") or ""
            if label_or_emoji in label or label_or_emoji == emoji:
                return str(button["custom_id"])
        raise AssertionError(f"no button {label_or_emoji!r} in {[b.get('label') for b in self.buttons()]}")

    def text(self) -> str:
        """Everything readable: content, embed titles, descriptions, fields and footers."""
        parts = [self.content]
        for embed in self.embeds:
            parts += [embed.get("title", ""), embed.get("description", "")]
            parts += [f"{f.get('name', '')}\n{f.get('value', '')}" for f in embed.get("fields", [])]
            parts.append((embed.get("footer") or {}).get("text", ""))
        return "\n".join(p for p in parts if p)


class CommandNotOffered(AssertionError):
    """A test ran a command Discord would not show the member (its default permissions)."""


@dataclass
class Rejection:
    """A request the fake refused, as Discord would have."""

    method: str
    path: str
    status: int
    code: int
    message: str
    detail: list[str] = field(default_factory=list)


@dataclass
class Ping:
    """A notification Discord would deliver for a bot message."""

    kind: str  # everyone | user | role | replied_user
    target: str
    message_id: int


@dataclass
class FakeInteraction:
    """An interaction sent to a bot, and everything the bot did in response."""

    id: int
    token: str
    type: int
    app: FakeApp
    user: FakeUser
    guild_id: int | None
    channel_id: int
    data: dict[str, Any]
    message_id: int | None = None  # the message a component belongs to
    sent_at: float = 0.0
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    acked_at: float | None = None
    answered_at: float | None = None
    original: FakeMessage | None = None
    followups: list[FakeMessage] = field(default_factory=list)
    choices: list[dict[str, Any]] | None = None
    rejections: list[Rejection] = field(default_factory=list)

    @property
    def acked(self) -> bool:
        return bool(self.callbacks)

    @property
    def callback_type(self) -> int | None:
        return int(self.callbacks[0]["type"]) if self.callbacks else None

    @property
    def modal(self) -> dict[str, Any] | None:
        """The modal the bot answered with (callback type 9), as sent."""
        if self.callback_type != MODAL:
            return None
        return dict(self.callbacks[0].get("data") or {})

    @property
    def ack_latency(self) -> float | None:
        return None if self.acked_at is None else self.acked_at - self.sent_at

    @property
    def answer_latency(self) -> float | None:
        return None if self.answered_at is None else self.answered_at - self.sent_at

    def final(self) -> FakeMessage | None:
        """The response once it has real content (not the "thinking…" placeholder)."""
        if self.original is not None and not self.original.loading:
            return self.original
        return self.followups[0] if self.followups else None


# --- message rules --------------------------------------------------------------------------


def embed_problems(embeds: list[dict[str, Any]]) -> list[str]:
    """Discord's embed limits; the 6000 total counts every embed of the message together."""
    problems: list[str] = []
    if len(embeds) > 10:
        problems.append(f"{len(embeds)} embeds > 10")
    total = 0
    for i, embed in enumerate(embeds):
        title, description = embed.get("title") or "", embed.get("description") or ""
        footer = (embed.get("footer") or {}).get("text") or ""
        author = (embed.get("author") or {}).get("name") or ""
        fields = embed.get("fields") or []
        checks = [("title", title, 256), ("description", description, 4096), ("footer", footer, 2048)]
        checks.append(("author", author, 256))
        problems += [f"embeds[{i}].{name}: {len(text)} > {limit}" for name, text, limit in checks if len(text) > limit]
        if len(fields) > 25:
            problems.append(f"embeds[{i}].fields: {len(fields)} > 25")
        for j, f in enumerate(fields):
            name, value = str(f.get("name") or ""), str(f.get("value") or "")
            if not 1 <= len(name) <= 256:
                problems.append(f"embeds[{i}].fields[{j}].name: length {len(name)} not in 1..256")
            if not 1 <= len(value) <= 1024:
                problems.append(f"embeds[{i}].fields[{j}].value: length {len(value)} not in 1..1024")
            total += len(name) + len(value)
        total += len(title) + len(description) + len(footer) + len(author)
    if total > 6000:
        problems.append(f"embeds: {total} characters in total > 6000")
    return problems


def component_problems(rows: list[dict[str, Any]]) -> list[str]:
    problems: list[str] = []
    if len(rows) > 5:
        problems.append(f"{len(rows)} action rows > 5")
    seen: set[str] = set()
    for i, row in enumerate(rows):
        items = row.get("components") or []
        if row.get("type") != ACTION_ROW or not 1 <= len(items) <= 5:
            problems.append(f"components[{i}]: an action row holds 1..5 components")
        if any(item.get("type") == SELECT_MENU for item in items) and len(items) != 1:
            problems.append(f"components[{i}]: a select menu fills its action row alone")
        for item in items:
            custom_id = item.get("custom_id")
            if item.get("type") == SELECT_MENU:
                problems += select_problems(i, item)
            if item.get("type") == 2 and item.get("style") != 5:
                if not custom_id or len(custom_id) > 100:
                    problems.append(f"components[{i}]: custom_id must be 1..100 characters")
                if len(item.get("label") or "") > 80:
                    problems.append(f"components[{i}]: label over 80 characters")
                if not item.get("label") and not item.get("emoji"):
                    problems.append(f"components[{i}]: a button needs a label or an emoji")
            if custom_id in seen:
                problems.append(f"components: duplicate custom_id {custom_id!r}")
            if custom_id:
                seen.add(custom_id)
    return problems


def select_problems(row: int, menu: dict[str, Any]) -> list[str]:
    """A string select: 1..25 options with unique values, texts within 100 characters."""
    where = f"components[{row}].select"
    options = menu.get("options") or []
    problems = [] if 1 <= len(options) <= 25 else [f"{where}: {len(options)} options not in 1..25"]
    if not 1 <= len(menu.get("custom_id") or "") <= 100:
        problems.append(f"{where}: custom_id must be 1..100 characters")
    if len(menu.get("placeholder") or "") > 150:
        problems.append(f"{where}: placeholder over 150 characters")
    for option in options:
        for key in ("label", "value"):
            if not 1 <= len(option.get(key) or "") <= 100:
                problems.append(f"{where}: option {key} length not in 1..100")
        if len(option.get("description") or "") > 100:
            problems.append(f"{where}: option description over 100 characters")
    if len({option.get("value") for option in options}) != len(options):
        problems.append(f"{where}: duplicate option values")
    return problems


def message_problems(data: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    content = data.get("content") or ""
    if len(content) > 2000:
        problems.append(f"content: {len(content)} characters > 2000")
    problems += embed_problems(data.get("embeds") or [])
    problems += component_problems(data.get("components") or [])
    allowed = data.get("allowed_mentions")
    if allowed:
        parse = allowed.get("parse") or []
        for kind in ("users", "roles"):
            if kind in parse and allowed.get(kind):
                problems.append(f"allowed_mentions: parse {kind!r} and a {kind} list are mutually exclusive")
    return problems


def modal_text_inputs(modal: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """A modal's text inputs, each with its label: in action rows (the label on the input) or
    in label components (Discord's newer layout)."""
    found: list[tuple[dict[str, Any], str]] = []
    for row in modal.get("components") or []:
        if row.get("type") == LABEL:
            inner = row.get("component") or {}
            found += [(inner, str(row.get("label") or ""))] if inner.get("type") == TEXT_INPUT else []
        else:
            found += [(item, str(item.get("label") or "")) for item in row.get("components") or []]
    return found


def modal_problems(modal: dict[str, Any]) -> list[str]:
    """A modal: a title of 1..45, a custom id, 1..5 rows each holding one text input within its limits."""
    problems: list[str] = []
    if not 1 <= len(modal.get("title") or "") <= 45:
        problems.append(f"modal title length {len(modal.get('title') or '')} not in 1..45")
    if not 1 <= len(modal.get("custom_id") or "") <= 100:
        problems.append("modal custom_id must be 1..100 characters")
    rows = modal.get("components") or []
    if not 1 <= len(rows) <= 5:
        problems.append(f"modal: {len(rows)} components not in 1..5")
    for row in rows:
        if row.get("type") == ACTION_ROW and len(row.get("components") or []) != 1:
            problems.append("modal: an action row holds exactly one text input")
    for item, label in modal_text_inputs(modal):
        problems += text_input_problems(item, label)
    return problems


def text_input_problems(item: dict[str, Any], label: str) -> list[str]:
    where = f"text input {item.get('custom_id')!r}"
    problems = [] if item.get("type") == TEXT_INPUT else [f"{where}: type {item.get('type')} is not a text input"]
    if item.get("style") not in TEXT_STYLES:
        problems.append(f"{where}: style {item.get('style')} is not 1 or 2")
    if not 1 <= len(item.get("custom_id") or "") <= 100:
        problems.append(f"{where}: custom_id must be 1..100 characters")
    if not 1 <= len(label) <= 45:
        problems.append(f"{where}: label length {len(label)} not in 1..45")
    if len(item.get("placeholder") or "") > 100:
        problems.append(f"{where}: placeholder over 100 characters")
    low, high = item.get("min_length", 0), item.get("max_length", 4000)
    if not (0 <= low <= 4000 and 1 <= high <= 4000 and low <= high):
        problems.append(f"{where}: lengths {low}..{high} outside 0..4000")
    if len(item.get("value") or "") > high:
        problems.append(f"{where}: pre-filled value over max_length")
    return problems


def is_empty_message(data: dict[str, Any]) -> bool:
    return not (data.get("content") or data.get("embeds") or data.get("components") or data.get("attachments"))


def deliverable_pings(message: FakeMessage) -> list[Ping]:
    """The notifications Discord would send for a bot message, given its ``allowed_mentions``
    (absent means Discord's default: everything in the content pings)."""
    allowed = message.allowed_mentions
    parse = set(allowed.get("parse", [])) if allowed is not None else {"everyone", "users", "roles"}
    users = set(map(str, (allowed or {}).get("users", [])))
    roles = set(map(str, (allowed or {}).get("roles", [])))
    content = message.content
    pings: list[Ping] = []
    for word in ("@everyone", "@here"):
        if word in content and "everyone" in parse:
            pings.append(Ping("everyone", word, message.id))
    for uid in re.findall(r"<@!?(\d+)>", content):
        if "users" in parse or uid in users:
            pings.append(Ping("user", uid, message.id))
    for rid in re.findall(r"<@&(\d+)>", content):
        if "roles" in parse or rid in roles:
            pings.append(Ping("role", rid, message.id))
    if message.reference is not None and (allowed is None or allowed.get("replied_user", False)):
        pings.append(Ping("replied_user", str(message.reference), message.id))
    return pings


# --- the gateway ----------------------------------------------------------------------------


class GatewayConnection:
    """One client websocket, with the compression it asked for (``compress`` query parameter)."""

    def __init__(self, ws: web.WebSocketResponse, compress: str | None) -> None:
        self.ws = ws
        self.compress = compress
        self.app: FakeApp | None = None
        self.shard = (0, 1)
        self.session_id = secrets.token_hex(16)
        self.seq = 0
        self.heartbeats: list[float] = []
        self.intents = 0
        self.transport: asyncio.Transport | None = None  # the TCP connection, for dropping it
        self._lock = asyncio.Lock()
        self._zlib = zlib.compressobj() if compress == "zlib-stream" else None
        self._zstd: Any = None
        if compress == "zstd-stream":
            import zstandard

            self._zstd = zstandard.ZstdCompressor().compressobj()
            self._zstd_flush = zstandard.COMPRESSOBJ_FLUSH_BLOCK

    @property
    def ready(self) -> bool:
        return self.app is not None and not self.ws.closed

    def serves(self, guild_id: int | None) -> bool:
        index, count = self.shard
        return (0 if guild_id is None else (guild_id >> 22) % count) == index

    async def send(self, payload: dict[str, Any]) -> None:
        text = json.dumps(payload, separators=(",", ":"))
        async with self._lock:  # frames of a compressed stream must go out in order
            if self.ws.closed:
                return
            if self._zstd is not None:
                await self.ws.send_bytes(self._zstd.compress(text.encode()) + self._zstd.flush(self._zstd_flush))
            elif self._zlib is not None:
                await self.ws.send_bytes(self._zlib.compress(text.encode()) + self._zlib.flush(zlib.Z_SYNC_FLUSH))
            else:
                await self.ws.send_str(text)

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        self.seq += 1
        await self.send({"op": 0, "t": event, "s": self.seq, "d": data})


@contextlib.contextmanager
def patch_discord(api_url: str, gateway_url: str) -> Iterator[None]:
    """Point discord.py at a fake: ``Route.BASE`` for REST, ``DEFAULT_GATEWAY`` for the gateway."""
    import discord.gateway
    import discord.http

    saved = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = api_url
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)
    try:
        yield
    finally:
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved


def on_fake_loop(fn: Callable[..., Coroutine[Any, Any, T]]) -> Callable[..., Awaitable[T]]:
    """Run a helper coroutine on the fake's loop, whichever loop awaits it."""

    @functools.wraps(fn)
    async def wrapper(self: FakeDiscord, *args: Any, **kwargs: Any) -> T:
        coro = fn(self, *args, **kwargs)
        if asyncio.get_running_loop() is self.loop:
            return await coro
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    return wrapper


class FakeDiscord:
    """The fake server. ``start()`` it (or use it as a context manager), then ``patch_discord()``."""

    def __init__(
        self,
        *,
        ack_deadline: float = ACK_DEADLINE_SECONDS,
        heartbeat_interval_ms: int = 41_250,
        message_content_allowed: bool = True,
    ) -> None:
        self.ack_deadline = ack_deadline
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.ids = Snowflakes()
        self.apps: dict[int, FakeApp] = {}
        self.app = self.add_app("story-bot", message_content_allowed=message_content_allowed)
        self.users: dict[int, FakeUser] = {}
        self.guilds: dict[int, FakeGuild] = {}
        self.channels: dict[int, FakeChannel] = {}
        self.messages: dict[int, FakeMessage] = {}
        self.interactions: dict[int, FakeInteraction] = {}
        self.attachments: dict[int, FakeAttachment] = {}
        self.connections: list[GatewayConnection] = []
        self.identifies: list[dict[str, Any]] = []
        self.resumes: list[dict[str, Any]] = []  # RESUME (op 6) payloads, accepted or not
        self.resumed: list[str] = []  # session ids resumed successfully
        self.sessions: dict[str, tuple[FakeApp, tuple[int, int], int]] = {}  # resumable sessions
        self.rejections: list[Rejection] = []
        self.unhandled: list[str] = []
        self.pings: list[Ping] = []
        self.sent: list[tuple[str, dict[str, Any]]] = []  # every message body a bot sent or edited
        self.typing: list[int] = []
        self.port = 0
        self.loop: asyncio.AbstractEventLoop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._started = threading.Event()
        self._changed: asyncio.Condition | None = None

    # --- lifecycle ---

    def start(self) -> FakeDiscord:
        self._thread = threading.Thread(target=self._serve, name="fake-discord", daemon=True)
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("the fake Discord did not start")
        return self

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start_server())
        self._started.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self._cleanup())
        self.loop.close()

    async def _start_server(self) -> None:
        self._changed = asyncio.Condition()
        app = web.Application(client_max_size=64 * 2**20)
        app.add_routes(self._routes())
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def _cleanup(self) -> None:
        for conn in list(self.connections):
            with contextlib.suppress(Exception):
                await conn.ws.close(code=1001)
        if self._runner is not None:
            await self._runner.cleanup()

    def stop(self) -> None:
        if self._thread is None:
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self._thread = None

    def __enter__(self) -> FakeDiscord:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return self.base_url + API

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    def patch_discord(self) -> contextlib.AbstractContextManager[None]:
        """Point discord.py's REST and gateway at this server for the duration."""
        return patch_discord(self.api_url, self.gateway_url)

    # --- world building (plain methods: no connection is touched) ---

    def add_app(self, name: str, *, message_content_allowed: bool = True, shards: int = 1) -> FakeApp:
        app_id = self.ids.next()
        token = f"{secrets.token_urlsafe(18)}.{secrets.token_urlsafe(6)}.{secrets.token_urlsafe(27)}"
        app = FakeApp(app_id, token, FakeUser(app_id, name, bot=True), message_content_allowed, shards)
        self.apps[app_id] = app
        return app

    def new_user(self, name: str = "user", *, bot: bool = False) -> FakeUser:
        user = FakeUser(self.ids.next(), name, bot)
        self.users[user.id] = user
        return user

    def attachment(
        self, filename: str, data: bytes, *, size: int | None = None, content_type: str = "text/plain"
    ) -> FakeAttachment:
        aid = self.ids.next()
        url = f"{self.base_url}/attachments/{aid}/{quote(filename, safe='')}"
        item = FakeAttachment(aid, filename, data, url, len(data) if size is None else size, content_type)
        self.attachments[aid] = item
        return item

    # --- driving the bot (coroutines, run on the fake's loop) ---

    @on_fake_loop
    async def add_guild(
        self,
        name: str = "guild",
        *,
        members: tuple[FakeUser, ...] = (),
        apps: tuple[FakeApp, ...] = (),
        guild_id: int | None = None,
        nicknames: dict[int, str] | None = None,
    ) -> FakeGuild:
        """A guild the bot(s) join now: sends GUILD_CREATE to their connected shards.
        ``nicknames`` maps user ids to server nicknames (their display names there)."""
        gid = guild_id or self.ids.next()
        owner = members[0] if members else self.new_user(f"{name}-owner")
        joined = apps or (self.app,)
        people = {u.id: u for u in (owner, *members, *(a.user for a in joined))}
        general = FakeChannel(self.ids.next(), "general", GUILD_TEXT, gid)
        guild = FakeGuild(gid, name, owner, people, [general], {a.id for a in joined}, nicks=dict(nicknames or {}))
        self.guilds[gid] = guild
        self.channels[general.id] = general
        for conn in self._connections_for(gid):
            await conn.dispatch("GUILD_CREATE", guild.payload())
        await self._notify()
        return guild

    @on_fake_loop
    async def add_role(
        self, guild: FakeGuild, name: str, *, members: tuple[FakeUser, ...] = (), managed: bool = False
    ) -> FakeRole:
        """A role created in a guild now (GUILD_ROLE_CREATE), given to ``members``."""
        role = FakeRole(self.ids.next(), name, managed)
        guild.roles.append(role)
        for user in members:
            guild.member_roles.setdefault(user.id, set()).add(role.id)
        for conn in self._connections_for(guild.id):
            await conn.dispatch("GUILD_ROLE_CREATE", {"guild_id": str(guild.id), "role": role.payload()})
        await self._notify()
        return role

    @on_fake_loop
    async def add_channel(self, guild: FakeGuild, name: str) -> FakeChannel:
        """A text channel created in a guild now (CHANNEL_CREATE)."""
        channel = FakeChannel(self.ids.next(), name, GUILD_TEXT, guild.id)
        guild.channels.append(channel)
        self.channels[channel.id] = channel
        for conn in self._connections_for(guild.id):
            await conn.dispatch("CHANNEL_CREATE", channel.payload())
        await self._notify()
        return channel

    def offered(self, app: FakeApp, command: str, guild: FakeGuild | None, permissions: int) -> bool:
        """Whether Discord offers a command to a member: it declares no default permissions, the
        member has them (or is an administrator), or an admin opened it in Integrations."""
        name = command.split()[0]
        registered, _ = self._commands_for(app, guild)
        schema = next((c for c in registered if c["name"] == name), None)
        required = int((schema or {}).get("default_member_permissions") or 0)
        if guild is None or not required or permissions & ADMINISTRATOR:
            return True
        return permissions & required == required or name in guild.opened_commands

    @on_fake_loop
    async def slash(
        self,
        command: str,
        *,
        user: FakeUser,
        guild: FakeGuild | None = None,
        channel: FakeChannel | None = None,
        permissions: int = MEMBER,
        app: FakeApp | None = None,
        **options: Any,
    ) -> FakeInteraction:
        """A user runs ``/command`` (``"docs add"`` for a subcommand) with the given options,
        typed as the bot registered them. As on Discord, a member can't run a command whose
        default permissions they lack unless an admin opened it (:class:`CommandNotOffered`)."""
        app = app or self.app
        if not self.offered(app, command, guild, permissions):
            raise CommandNotOffered(f"Discord does not offer /{command} to this member")
        data, _ = self._command_data(app, command, guild, options)
        return await self._interact(APPLICATION_COMMAND, data, app, user, guild, channel, permissions)

    @on_fake_loop
    async def autocomplete(
        self,
        command: str,
        focused: str,
        current: str,
        *,
        user: FakeUser,
        guild: FakeGuild | None = None,
        permissions: int = MEMBER,
        app: FakeApp | None = None,
    ) -> FakeInteraction:
        app = app or self.app
        if not self.offered(app, command, guild, permissions):
            raise CommandNotOffered(f"Discord does not offer /{command} to this member")
        data, leaf = self._command_data(app, command, guild, {focused: current})
        for option in leaf["options"]:
            if option["name"] == focused:
                option["focused"] = True
        return await self._interact(AUTOCOMPLETE, data, app, user, guild, None, permissions)

    @on_fake_loop
    async def click(
        self,
        message: FakeMessage,
        custom_id: str,
        *,
        user: FakeUser,
        permissions: int = MEMBER,
        app: FakeApp | None = None,
    ) -> FakeInteraction:
        """A user clicks a button of a message (its current version)."""
        data = {"custom_id": custom_id, "component_type": BUTTON}
        return await self._use_component(message, data, user, permissions, app)

    @on_fake_loop
    async def select(
        self,
        message: FakeMessage,
        custom_id: str,
        values: list[str],
        *,
        user: FakeUser,
        permissions: int = MEMBER,
        app: FakeApp | None = None,
    ) -> FakeInteraction:
        """A user picks options of a select menu of a message (its current version)."""
        menu = next((c for c in self.messages[message.id].buttons() if c.get("custom_id") == custom_id), None)
        assert menu is not None, f"no component {custom_id!r}"
        assert menu.get("type") == SELECT_MENU, f"{custom_id!r} is not a select menu"
        offered = {option["value"] for option in menu.get("options", [])}
        assert set(values) <= offered, f"{values} are not options of {custom_id!r}"
        data = {"custom_id": custom_id, "component_type": SELECT_MENU, "values": values}
        return await self._use_component(message, data, user, permissions, app)

    @on_fake_loop
    async def submit_modal(
        self, interaction: FakeInteraction, values: dict[str, str], *, permissions: int = MEMBER
    ) -> FakeInteraction:
        """The user who was shown a modal (once it is shown) fills it in (text input custom id →
        text) and submits it; as Discord's client does, it refuses a value outside the input's
        lengths or a required input left empty."""
        modal = await self.wait_for(lambda: interaction.modal, what=f"a modal for interaction {interaction.id}")
        inputs = {str(item["custom_id"]): item for item, _ in modal_text_inputs(modal)}
        assert set(values) <= set(inputs), f"{sorted(values)} are not inputs of the modal ({sorted(inputs)})"
        for custom_id, item in inputs.items():
            text = values.get(custom_id, "")
            if item.get("required", True):
                assert text, f"{custom_id!r} is required"
            if text:
                assert item.get("min_length", 0) <= len(text) <= item.get("max_length", 4000), f"{custom_id!r} length"
        rows = [
            {"type": ACTION_ROW, "components": [{"type": TEXT_INPUT, "custom_id": cid, "value": values.get(cid, "")}]}
            for cid in inputs
        ]
        data = {"custom_id": modal["custom_id"], "components": rows}
        guild = self.guilds.get(interaction.guild_id) if interaction.guild_id else None
        channel = self.channels[interaction.channel_id]
        message = self.messages.get(interaction.message_id) if interaction.message_id else None
        return await self._interact(
            MODAL_SUBMIT, data, interaction.app, interaction.user, guild, channel, permissions, message
        )

    async def modal(self, interaction: FakeInteraction, within: float = 60.0) -> dict[str, Any]:
        """The modal a command or click was answered with, once it arrives."""
        return await self.wait_for(lambda: interaction.modal, within, f"a modal for interaction {interaction.id}")

    async def _use_component(
        self, message: FakeMessage, data: dict[str, Any], user: FakeUser, permissions: int, app: FakeApp | None
    ) -> FakeInteraction:
        current = self.messages[message.id]
        custom_id = data["custom_id"]
        component = next((b for b in current.buttons() if b.get("custom_id") == custom_id), None)
        assert component is not None, f"message {message.id} has no component {custom_id!r}"
        assert not component.get("disabled"), f"component {custom_id!r} is disabled"
        if current.ephemeral:
            viewer = self.interactions[current.interaction_id].user if current.interaction_id else None
            assert viewer is user, "an ephemeral message is seen (and clicked) only by the user it was sent to"
        guild = self.guilds.get(current.guild_id) if current.guild_id else None
        channel = self.channels[current.channel_id]
        app = app or self.app
        return await self._interact(MESSAGE_COMPONENT, data, app, user, guild, channel, permissions, current)

    @on_fake_loop
    async def say(
        self,
        channel: FakeChannel,
        author: FakeUser,
        content: str,
        *,
        mentions: tuple[FakeUser, ...] = (),
        reply_to: FakeMessage | None = None,
        ping_reply: bool = True,
    ) -> FakeMessage:
        """A user posts a message; every bot in the guild (or the DM) receives MESSAGE_CREATE.

        ``reply_to`` makes it a Discord reply, which (with ``ping_reply``, the client's default)
        also mentions the replied-to author, as Discord does."""
        mentioned = list(mentions)
        if reply_to is not None:
            assert reply_to.channel_id == channel.id, "a reply is in the channel of the message it replies to"
            if ping_reply and reply_to.author not in mentioned and reply_to.author is not author:
                mentioned.append(reply_to.author)
        message = FakeMessage(
            self.ids.next(),
            channel.id,
            channel.guild_id,
            author,
            content,
            mentions=mentioned,
            mention_everyone="@everyone" in content or "@here" in content,
            reference=None if reply_to is None else reply_to.id,
        )
        self.messages[message.id] = message
        await self._broadcast_message(message)
        await self._notify()
        return message

    @on_fake_loop
    async def dm_channel(self, user: FakeUser, app: FakeApp | None = None) -> FakeChannel:
        """The direct-message channel between a user and a bot."""
        app = app or self.app
        found = next((c for c in self.channels.values() if c.recipient is user and c.app_id == app.id), None)
        if found is None:
            found = FakeChannel(self.ids.next(), user.name, DM, recipient=user, app_id=app.id)
            self.channels[found.id] = found
        return found

    @on_fake_loop
    async def wait_for(self, predicate: Callable[[], T | None], within: float = 60.0, what: str = "a condition") -> T:
        """Wait until ``predicate()`` (evaluated on the fake's loop) is truthy, and return it."""
        assert self._changed is not None
        deadline = self.loop.time() + within
        async with self._changed:
            while True:
                result = predicate()
                if result:
                    return result
                remaining = deadline - self.loop.time()
                if remaining <= 0:
                    raise AssertionError(f"timed out after {within}s waiting for {what}")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), remaining)

    # --- gateway faults (each returns how many of the app's connections it hit) ---

    def _gateway_targets(self, app: FakeApp | None) -> list[GatewayConnection]:
        app = app or self.app
        return [c for c in self.connections if c.ready and c.app is app]

    @on_fake_loop
    async def gateway_reconnect(self, app: FakeApp | None = None) -> int:
        """Reconnect (op 7): Discord asks the bot to reconnect and resume."""
        targets = self._gateway_targets(app)
        for conn in targets:
            await conn.send({"op": 7, "s": None, "t": None, "d": None})
        return len(targets)

    @on_fake_loop
    async def gateway_invalid_session(self, resumable: bool, app: FakeApp | None = None) -> int:
        """Invalid Session (op 9): ``resumable`` false forgets the session (the bot must identify
        again); true lets it resume. Either way nothing more is sent on the connection."""
        targets = self._gateway_targets(app)
        for conn in targets:
            if not resumable:
                self.sessions.pop(conn.session_id, None)
            await conn.send({"op": 9, "s": None, "t": None, "d": resumable})
            conn.app = None
        await self._notify()
        return len(targets)

    @on_fake_loop
    async def gateway_close(self, code: int, app: FakeApp | None = None) -> int:
        """Close the websocket cleanly with a close code (4000: unknown error, resumable)."""
        targets = self._gateway_targets(app)
        for conn in targets:
            await conn.ws.close(code=code, message=b"fake-discord closing")
        await self._notify()
        return len(targets)

    @on_fake_loop
    async def gateway_expire_sessions(self) -> int:
        """Forget every session, as Discord does after a while: a later RESUME meets op 9 (false)."""
        count = len(self.sessions)
        self.sessions.clear()
        return count

    @on_fake_loop
    async def gateway_drop(self, app: FakeApp | None = None) -> int:
        """Drop the TCP connection with no close frame (the client sees code 1006)."""
        targets = self._gateway_targets(app)
        for conn in targets:
            conn.app = None
            if conn.transport is not None:
                conn.transport.abort()
        await self._notify()
        return len(targets)

    async def reply(self, interaction: FakeInteraction, within: float = 60.0) -> FakeMessage:
        """The response to a command once it has content (after any "thinking…")."""
        return await self.wait_for(interaction.final, within, f"a reply to interaction {interaction.id}")

    async def followup(self, interaction: FakeInteraction, index: int = 0, within: float = 60.0) -> FakeMessage:
        def found() -> FakeMessage | None:
            return interaction.followups[index] if len(interaction.followups) > index else None

        return await self.wait_for(found, within, f"follow-up {index} of interaction {interaction.id}")

    async def bot_message_in(self, channel_id: int, after: int = 0, within: float = 60.0) -> FakeMessage:
        """The first message a bot posts in a channel (or thread) with an id above ``after``."""

        def found() -> FakeMessage | None:
            return next(
                (
                    m
                    for m in sorted(self.messages.values(), key=lambda m: m.id)
                    if m.channel_id == channel_id and m.author.bot and m.id > after
                ),
                None,
            )

        return await self.wait_for(found, within, f"a bot message in channel {channel_id}")

    def message(self, message_id: int) -> FakeMessage:
        return self.messages[message_id]

    def thread_of(self, message: FakeMessage) -> FakeChannel | None:
        """The thread started from a message (its id is the message's id, as on Discord)."""
        channel = self.channels.get(message.id)
        return channel if channel is not None and channel.type == PUBLIC_THREAD else None

    # --- internals: interactions ---

    def _commands_for(self, app: FakeApp, guild: FakeGuild | None) -> tuple[list[dict[str, Any]], bool]:
        if guild is not None and guild.id in app.guild_commands:
            return app.guild_commands[guild.id], True
        return app.global_commands, False

    def _command_data(
        self, app: FakeApp, command: str, guild: FakeGuild | None, options: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Interaction data for a command, built from the schema the bot registered."""
        name, *path = command.split()
        registered, in_guild = self._commands_for(app, guild)
        schema = next((c for c in registered if c["name"] == name), None)
        assert schema is not None, f"/{name} is not registered (registered: {[c['name'] for c in registered]})"
        data: dict[str, Any] = {"id": schema["id"], "name": name, "type": 1, "options": []}
        if in_guild and guild is not None:
            data["guild_id"] = str(guild.id)
        leaf = data
        for sub in path:
            sub_schema = next((o for o in schema.get("options", []) if o["name"] == sub and o["type"] in (1, 2)), None)
            assert sub_schema is not None, f"/{command}: no subcommand {sub!r}"
            node: dict[str, Any] = {"name": sub, "type": sub_schema["type"], "options": []}
            leaf["options"].append(node)
            leaf, schema = node, sub_schema
        resolved: dict[str, dict[str, Any]] = {}
        for key, value in options.items():
            option = next((o for o in schema.get("options", []) if o["name"] == key), None)
            assert option is not None, f"/{command} has no option {key!r}"
            if isinstance(value, FakeAttachment):
                resolved.setdefault("attachments", {})[str(value.id)] = value.payload()
                value = str(value.id)
            elif isinstance(value, FakeRole):
                resolved.setdefault("roles", {})[str(value.id)] = value.payload()
                value = str(value.id)
            elif isinstance(value, FakeChannel):
                channel = {k: v for k, v in value.payload().items() if k in ("id", "name", "type", "parent_id")}
                resolved.setdefault("channels", {})[str(value.id)] = {**channel, "permissions": str(ADMIN)}
                value = str(value.id)
            leaf["options"].append({"name": key, "type": option["type"], "value": value})
        if resolved:
            data["resolved"] = resolved
        return data, leaf

    async def _interact(
        self,
        kind: int,
        data: dict[str, Any],
        app: FakeApp,
        user: FakeUser,
        guild: FakeGuild | None,
        channel: FakeChannel | None,
        permissions: int,
        message: FakeMessage | None = None,
    ) -> FakeInteraction:
        if guild is not None:
            channel = channel or guild.general
            guild.members.setdefault(user.id, user)
        elif channel is None:
            channel = await self.dm_channel(user, app)
        iid = self.ids.next()
        token = f"aW50ZXJhY3Rpb24.{iid}.{secrets.token_urlsafe(24)}"
        payload: dict[str, Any] = {
            "id": str(iid),
            "application_id": str(app.id),
            "type": kind,
            "data": data,
            "token": token,
            "version": 1,
            "locale": "en-US",
            "channel_id": str(channel.id),
            "channel": channel.payload(),
            "app_permissions": str(ADMIN),
            "entitlements": [],
            "attachment_size_limit": 25 * 2**20,
            "authorizing_integration_owners": {"0": str(guild.id)} if guild else {"1": str(user.id)},
            "context": 0 if guild else 1,
        }
        if guild is not None:
            payload |= {
                "guild_id": str(guild.id),
                "guild": {"id": str(guild.id), "locale": "en-US", "features": []},
                "guild_locale": "en-US",
                "member": guild.member(user, permissions),
            }
        else:
            payload["user"] = user.payload()
        if message is not None:
            payload["message"] = message.payload()
        record = FakeInteraction(
            iid, token, kind, app, user, guild.id if guild else None, channel.id, data, message.id if message else None
        )
        self.interactions[iid] = record
        conns = self._connections_for(guild.id if guild else None, app)
        assert conns, f"{app.user.name} has no gateway connection for this interaction"
        record.sent_at = time.monotonic()
        await conns[0].dispatch("INTERACTION_CREATE", payload)
        return record

    def _connections_for(self, guild_id: int | None, app: FakeApp | None = None) -> list[GatewayConnection]:
        apps = {app.id} if app else (self.guilds[guild_id].apps if guild_id in self.guilds else set(self.apps))
        return [
            c for c in self.connections if c.ready and c.app is not None and c.app.id in apps and c.serves(guild_id)
        ]

    def message_payload(self, message: FakeMessage) -> dict[str, Any]:
        """A message as Discord delivers it: in a guild, its author's and mentioned users' member
        data (nicknames); for a reply, the message it replies to."""
        payload = message.payload()
        guild = self.guilds.get(message.guild_id) if message.guild_id else None
        if guild is not None:
            payload["member"] = {k: v for k, v in guild.member(message.author).items() if k != "user"}
            payload["mentions"] = [
                {**user.payload(), "member": {k: v for k, v in guild.member(user).items() if k != "user"}}
                for user in message.mentions
            ]
        referenced = self.messages.get(message.reference) if message.reference else None
        if referenced is not None:
            payload["referenced_message"] = referenced.payload()
        return payload

    async def _broadcast_message(self, message: FakeMessage) -> None:
        payload = self.message_payload(message)
        channel = self.channels.get(message.channel_id)
        dm_app = self.apps.get(channel.app_id) if channel is not None and channel.app_id else None
        for conn in self._connections_for(message.guild_id, dm_app):
            await conn.dispatch("MESSAGE_CREATE", payload)

    async def _notify(self) -> None:
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    # --- internals: HTTP ---

    def _routes(self) -> list[web.RouteDef]:
        return [
            web.get("/", self._gateway),
            web.get(API + "/users/@me", self._get_me),
            web.get(API + "/gateway", self._get_gateway),
            web.get(API + "/gateway/bot", self._get_gateway_bot),
            web.get(API + "/oauth2/applications/@me", self._get_application),
            web.put(API + "/applications/{app}/commands", self._put_commands),
            web.put(API + "/applications/{app}/guilds/{guild}/commands", self._put_commands),
            web.get(API + "/applications/{app}/commands", self._get_commands),
            web.get(API + "/applications/{app}/guilds/{guild}/commands", self._get_commands),
            web.post(API + "/interactions/{iid}/{token}/callback", self._post_callback),
            web.post(API + "/webhooks/{app}/{token}", self._post_followup),
            web.patch(API + "/webhooks/{app}/{token}/messages/{mid}", self._patch_webhook_message),
            web.get(API + "/webhooks/{app}/{token}/messages/{mid}", self._get_webhook_message),
            web.delete(API + "/webhooks/{app}/{token}/messages/{mid}", self._delete_webhook_message),
            web.post(API + "/channels/{cid}/messages", self._post_message),
            web.patch(API + "/channels/{cid}/messages/{mid}", self._patch_message),
            web.delete(API + "/channels/{cid}/messages/{mid}", self._delete_message),
            web.put(API + "/channels/{cid}/messages/{mid}/reactions/{emoji}/@me", self._put_reaction),
            web.post(API + "/channels/{cid}/messages/{mid}/threads", self._post_thread),
            web.post(API + "/channels/{cid}/typing", self._post_typing),
            web.get("/attachments/{aid}/{name:[^/]+}", self._get_attachment),
            web.route("*", "/{tail:.*}", self._unknown_route),
        ]

    @staticmethod
    def _json(data: Any, status: int = 200) -> web.Response:
        # Exactly "application/json": discord.py parses JSON only for that exact header value.
        return web.Response(status=status, body=json.dumps(data).encode(), headers={"Content-Type": "application/json"})

    async def _reject(
        self,
        request: web.Request,
        status: int,
        code: int,
        message: str,
        detail: list[str] | None = None,
        interaction: FakeInteraction | None = None,
    ) -> web.Response:
        rejection = Rejection(request.method, request.path, status, code, message, detail or [])
        self.rejections.append(rejection)
        if interaction is not None:
            interaction.rejections.append(rejection)
        await self._notify()
        body: dict[str, Any] = {"message": message, "code": code}
        if detail:
            body["errors"] = {"_errors": [{"code": "BASE_TYPE_BAD", "message": d} for d in detail]}
        return self._json(body, status)

    def _app_from_auth(self, request: web.Request) -> FakeApp | None:
        header = request.headers.get("Authorization", "")
        return next((a for a in self.apps.values() if header == f"Bot {a.token}"), None)

    async def _unauthorized(self, request: web.Request) -> web.Response:
        return await self._reject(request, 401, 0, "401: Unauthorized")

    @staticmethod
    async def _body(request: web.Request) -> dict[str, Any]:
        """A JSON body, or the ``payload_json`` part of a multipart one."""
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            raw = form.get("payload_json")
            return json.loads(str(raw)) if raw is not None else {}
        if not request.can_read_body:
            return {}
        data = await request.json()
        return data if isinstance(data, dict) else {"_": data}

    async def _unknown_route(self, request: web.Request) -> web.Response:
        self.unhandled.append(f"{request.method} {request.path}")
        return await self._reject(request, 404, 0, f"404: Not Found ({request.method} {request.path})")

    async def _get_me(self, request: web.Request) -> web.Response:
        app = self._app_from_auth(request)
        if app is None:
            return await self._unauthorized(request)
        return self._json({**app.user.payload(), "verified": True, "mfa_enabled": False, "email": None})

    async def _get_gateway(self, request: web.Request) -> web.Response:
        return self._json({"url": self.gateway_url})

    async def _get_gateway_bot(self, request: web.Request) -> web.Response:
        app = self._app_from_auth(request)
        if app is None:
            return await self._unauthorized(request)
        limit = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
        return self._json({"url": self.gateway_url, "shards": app.recommended_shards, "session_start_limit": limit})

    async def _get_application(self, request: web.Request) -> web.Response:
        app = self._app_from_auth(request)
        if app is None:
            return await self._unauthorized(request)
        return self._json(app.payload())

    async def _put_commands(self, request: web.Request) -> web.Response:
        app = self._app_from_auth(request)
        if app is None or str(app.id) != request.match_info["app"]:
            return await self._unauthorized(request)
        guild_id = int(request.match_info["guild"]) if "guild" in request.match_info else None
        body = await request.json()
        problems = [
            f"command {c.get('name')!r}: description over 100" for c in body if len(c.get("description", "")) > 100
        ]
        if problems:
            return await self._reject(request, 400, 50035, "Invalid Form Body", problems)
        echoed = [
            {
                **command,
                "id": str(self.ids.next()),
                "application_id": str(app.id),
                "version": str(self.ids.next()),
                **({"guild_id": str(guild_id)} if guild_id else {}),
            }
            for command in body
        ]
        if guild_id is None:
            app.global_commands = echoed
        else:
            app.guild_commands[guild_id] = echoed
        app.command_puts.append((guild_id, echoed))
        await self._notify()
        return self._json(echoed)

    async def _get_commands(self, request: web.Request) -> web.Response:
        app = self._app_from_auth(request)
        if app is None:
            return await self._unauthorized(request)
        guild_id = int(request.match_info["guild"]) if "guild" in request.match_info else None
        return self._json(app.global_commands if guild_id is None else app.guild_commands.get(guild_id, []))

    def _new_bot_message(
        self,
        app: FakeApp,
        channel_id: int,
        data: dict[str, Any],
        *,
        interaction: FakeInteraction | None = None,
        flags: int = 0,
    ) -> FakeMessage:
        channel = self.channels.get(channel_id)
        message = FakeMessage(
            self.ids.next(),
            channel_id,
            channel.guild_id if channel else None,
            app.user,
            data.get("content") or "",
            list(data.get("embeds") or []),
            list(data.get("components") or []),
            flags,
            allowed_mentions=data.get("allowed_mentions"),
            interaction_id=interaction.id if interaction else None,
            webhook_id=app.id if interaction else None,
            reference=int(data["message_reference"]["message_id"]) if data.get("message_reference") else None,
        )
        self.messages[message.id] = message
        self.pings += deliverable_pings(message)
        return message

    def _apply_edit(self, message: FakeMessage, data: dict[str, Any]) -> None:
        for key in ("content", "embeds", "components", "allowed_mentions"):
            if key in data:
                setattr(message, key, data[key] if data[key] is not None else ([] if key != "content" else ""))
        message.flags &= ~LOADING
        message.edited = iso_now()
        self.pings += deliverable_pings(message)

    def _record(self, request: web.Request, data: dict[str, Any]) -> None:
        self.sent.append((f"{request.method} {request.path}", data))

    async def _post_callback(self, request: web.Request) -> web.Response:
        now = time.monotonic()
        record = self.interactions.get(int(request.match_info["iid"]))
        if record is None or record.token != request.match_info["token"]:
            return await self._reject(request, 404, 10062, "Unknown interaction")
        body = await self._body(request)
        if now - record.sent_at > self.ack_deadline:
            late = f"acknowledged {now - record.sent_at:.2f}s after the interaction (limit {self.ack_deadline}s)"
            return await self._reject(request, 404, 10062, "Unknown interaction", [late], record)
        if record.callbacks:
            return await self._reject(request, 400, 40060, "Interaction has already been acknowledged.", [], record)
        kind = int(body.get("type", 0))
        if kind not in ALLOWED_CALLBACKS[record.type]:
            detail = [f"callback type {kind} for interaction type {record.type}"]
            return await self._reject(request, 400, 50035, "Invalid Form Body", detail, record)
        data = body.get("data") or {}
        problems = self._callback_problems(kind, data)
        if problems:
            code = 50006 if problems == ["empty"] else 50035
            return await self._reject(request, 400, code, "Invalid Form Body", problems, record)
        record.callbacks.append(body)
        record.acked_at = now
        resource = self._apply_callback(record, kind, data)
        if kind in (CHANNEL_MESSAGE, UPDATE_MESSAGE):
            self._record(request, data)
        await self._notify()
        if "with_response" not in request.query:
            return web.Response(status=204)
        return self._json(self._callback_response(record, kind, resource))

    @staticmethod
    def _callback_problems(kind: int, data: dict[str, Any]) -> list[str]:
        if kind == CHANNEL_MESSAGE and is_empty_message(data):
            return ["empty"]
        if kind in (CHANNEL_MESSAGE, UPDATE_MESSAGE):
            return message_problems(data)
        if kind == MODAL:
            return modal_problems(data)
        if kind == AUTOCOMPLETE_RESULT:
            choices = data.get("choices") or []
            problems = [f"{len(choices)} choices > 25"] if len(choices) > 25 else []
            return problems + [
                f"choice name length {len(c.get('name', ''))} not in 1..100"
                for c in choices
                if not 1 <= len(c.get("name", "")) <= 100
            ]
        return []

    def _apply_callback(self, record: FakeInteraction, kind: int, data: dict[str, Any]) -> FakeMessage | None:
        """What a callback does: a message, a "thinking…" placeholder, or an edit of the
        component's message."""
        flags = int(data.get("flags") or 0) & EPHEMERAL
        if kind == CHANNEL_MESSAGE:
            record.original = self._new_bot_message(
                record.app, record.channel_id, data, interaction=record, flags=flags
            )
            record.answered_at = time.monotonic()
            return record.original
        if kind == DEFERRED_CHANNEL_MESSAGE:
            record.original = self._new_bot_message(
                record.app, record.channel_id, {}, interaction=record, flags=flags | LOADING
            )
            return record.original
        if kind == UPDATE_MESSAGE and record.message_id is not None:
            message = self.messages[record.message_id]
            self._apply_edit(message, data)
            record.answered_at = time.monotonic()
            return message
        if kind == AUTOCOMPLETE_RESULT:
            record.choices = list(data.get("choices") or [])
            record.answered_at = time.monotonic()
        if kind == MODAL:
            record.answered_at = time.monotonic()
        return None

    @staticmethod
    def _callback_response(record: FakeInteraction, kind: int, message: FakeMessage | None) -> dict[str, Any]:
        interaction: dict[str, Any] = {"id": str(record.id), "type": record.type}
        if message is not None:
            interaction |= {
                "response_message_id": str(message.id),
                "response_message_loading": message.loading,
                "response_message_ephemeral": message.ephemeral,
            }
        response: dict[str, Any] = {"interaction": interaction}
        if message is not None:
            response["resource"] = {"type": kind, "message": message.payload()}
        return response

    async def _interaction_for_webhook(self, request: web.Request) -> FakeInteraction | web.Response:
        token = request.match_info["token"]
        record = next((i for i in self.interactions.values() if i.token == token), None)
        if record is None or str(record.app.id) != request.match_info["app"]:
            return await self._reject(request, 404, 10015, "Unknown Webhook")
        if not record.acked:
            return await self._reject(
                request, 404, 10015, "Unknown Webhook", ["the interaction was not acknowledged"], record
            )
        return record

    def _webhook_target(self, record: FakeInteraction, mid: str) -> FakeMessage | None:
        if mid == "@original":
            if record.original is not None:
                return record.original
            return self.messages.get(record.message_id) if record.message_id else None
        message = self.messages.get(int(mid)) if mid.isdigit() else None
        return message if message is not None and message.interaction_id == record.id else None

    async def _post_followup(self, request: web.Request) -> web.Response:
        record = await self._interaction_for_webhook(request)
        if isinstance(record, web.Response):
            return record
        data = await self._body(request)
        if is_empty_message(data):
            return await self._reject(request, 400, 50006, "Cannot send an empty message", [], record)
        problems = message_problems(data)
        if problems:
            return await self._reject(request, 400, 50035, "Invalid Form Body", problems, record)
        self._record(request, data)
        original = record.original
        if original is not None and original.loading:
            # The first follow-up after a deferral replaces the "thinking…" placeholder.
            self._apply_edit(original, data)
            message = original
        else:
            flags = int(data.get("flags") or 0) & EPHEMERAL
            message = self._new_bot_message(record.app, record.channel_id, data, interaction=record, flags=flags)
            record.followups.append(message)
        record.answered_at = record.answered_at or time.monotonic()
        await self._notify()
        return self._json(message.payload())

    async def _patch_webhook_message(self, request: web.Request) -> web.Response:
        record = await self._interaction_for_webhook(request)
        if isinstance(record, web.Response):
            return record
        message = self._webhook_target(record, request.match_info["mid"])
        if message is None:
            return await self._reject(request, 404, 10008, "Unknown Message", [], record)
        data = await self._body(request)
        problems = message_problems(data)
        if problems:
            return await self._reject(request, 400, 50035, "Invalid Form Body", problems, record)
        self._record(request, data)
        self._apply_edit(message, data)
        record.answered_at = record.answered_at or time.monotonic()
        await self._notify()
        return self._json(message.payload())

    async def _get_webhook_message(self, request: web.Request) -> web.Response:
        record = await self._interaction_for_webhook(request)
        if isinstance(record, web.Response):
            return record
        message = self._webhook_target(record, request.match_info["mid"])
        if message is None:
            return await self._reject(request, 404, 10008, "Unknown Message", [], record)
        return self._json(message.payload())

    async def _delete_webhook_message(self, request: web.Request) -> web.Response:
        record = await self._interaction_for_webhook(request)
        if isinstance(record, web.Response):
            return record
        message = self._webhook_target(record, request.match_info["mid"])
        if message is None:
            return await self._reject(request, 404, 10008, "Unknown Message", [], record)
        self.messages.pop(message.id, None)
        if record.original is message:
            record.original = None  # follow-ups are new messages from now on
        else:
            record.followups = [m for m in record.followups if m is not message]
        await self._notify()
        return web.Response(status=204)

    async def _post_message(self, request: web.Request) -> web.Response:
        app = self._app_from_auth(request)
        if app is None:
            return await self._unauthorized(request)
        cid = int(request.match_info["cid"])
        if cid not in self.channels:
            return await self._reject(request, 404, 10003, "Unknown Channel")
        data = await self._body(request)
        if is_empty_message(data):
            return await self._reject(request, 400, 50006, "Cannot send an empty message")
        problems = message_problems(data)
        reference = (data.get("message_reference") or {}).get("message_id")
        if reference is not None and int(reference) not in self.messages:
            problems.append("message_reference: unknown message")
        elif reference is not None and self.messages[int(reference)].channel_id != cid:
            problems.append("message_reference: a reply must be in the channel of the message it replies to")
        if problems:
            return await self._reject(request, 400, 50035, "Invalid Form Body", problems)
        self._record(request, data)
        message = self._new_bot_message(app, cid, data)
        await self._broadcast_message(message)  # bots receive their own messages, as on Discord
        await self._notify()
        return self._json(self.message_payload(message))

    async def _patch_message(self, request: web.Request) -> web.Response:
        app = self._app_from_auth(request)
        if app is None:
            return await self._unauthorized(request)
        message = self.messages.get(int(request.match_info["mid"]))
        if message is None or message.author.id != app.user.id:
            return await self._reject(request, 404, 10008, "Unknown Message")
        data = await self._body(request)
        problems = message_problems(data)
        if problems:
            return await self._reject(request, 400, 50035, "Invalid Form Body", problems)
        self._record(request, data)
        self._apply_edit(message, data)
        await self._notify()
        return self._json(message.payload())

    async def _delete_message(self, request: web.Request) -> web.Response:
        app = self._app_from_auth(request)
        if app is None:
            return await self._unauthorized(request)
        message = self.messages.get(int(request.match_info["mid"]))
        if message is None or message.channel_id != int(request.match_info["cid"]) or message.author.id != app.user.id:
            return await self._reject(request, 404, 10008, "Unknown Message")
        del self.messages[message.id]
        await self._notify()
        return web.Response(status=204)

    async def _put_reaction(self, request: web.Request) -> web.Response:
        app = self._app_from_auth(request)
        if app is None:
            return await self._unauthorized(request)
        message = self.messages.get(int(request.match_info["mid"]))
        if message is None or message.channel_id != int(request.match_info["cid"]):
            return await self._reject(request, 404, 10008, "Unknown Message")
        emoji = unquote(request.match_info["emoji"])
        if not emoji:
            return await self._reject(request, 400, 10014, "Unknown Emoji")
        if (emoji, app.user.id) not in message.reactions:
            message.reactions.append((emoji, app.user.id))
        await self._notify()
        return web.Response(status=204)

    async def _post_thread(self, request: web.Request) -> web.Response:
        app = self._app_from_auth(request)
        if app is None:
            return await self._unauthorized(request)
        cid, mid = int(request.match_info["cid"]), int(request.match_info["mid"])
        parent, message = self.channels.get(cid), self.messages.get(mid)
        if parent is None or message is None or message.channel_id != cid:
            return await self._reject(request, 404, 10008, "Unknown Message")
        if parent.type != GUILD_TEXT:
            return await self._reject(request, 400, 50024, "Cannot execute action on this channel type")
        if mid in self.channels:
            return await self._reject(request, 400, 160004, "A thread has already been created for this message")
        body = await self._body(request)
        name = str(body.get("name") or "")
        if not 1 <= len(name) <= 100:
            return await self._reject(
                request, 400, 50035, "Invalid Form Body", [f"name: length {len(name)} not in 1..100"]
            )
        thread = FakeChannel(mid, name, PUBLIC_THREAD, parent.guild_id, parent_id=cid, owner_id=app.user.id)
        self.channels[thread.id] = thread
        guild = self.guilds[parent.guild_id] if parent.guild_id else None
        if guild is not None:
            guild.threads.append(thread)
        for conn in self._connections_for(thread.guild_id):
            await conn.dispatch("THREAD_CREATE", {**thread.payload(), "newly_created": True})
        await self._notify()
        return self._json(thread.payload(), 201)

    async def _post_typing(self, request: web.Request) -> web.Response:
        if self._app_from_auth(request) is None:
            return await self._unauthorized(request)
        self.typing.append(int(request.match_info["cid"]))
        return web.Response(status=204)

    async def _get_attachment(self, request: web.Request) -> web.Response:
        item = self.attachments.get(int(request.match_info["aid"]))
        if item is None:
            return web.Response(status=404)
        return web.Response(body=item.data, headers={"Content-Type": item.content_type})

    # --- internals: the gateway ---

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        conn = GatewayConnection(ws, request.query.get("compress"))
        conn.transport = request.transport
        self.connections.append(conn)
        try:
            await conn.send({"op": 10, "s": None, "t": None, "d": {"heartbeat_interval": self.heartbeat_interval_ms}})
            async for frame in ws:
                if frame.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    await self._gateway_op(conn, json.loads(frame.data))
        finally:
            self.connections.remove(conn)
            await self._notify()
        return ws

    async def _gateway_op(self, conn: GatewayConnection, message: dict[str, Any]) -> None:
        op, data = message.get("op"), message.get("d")
        if op == 1:
            conn.heartbeats.append(time.monotonic())
            await conn.send({"op": 11, "s": None, "t": None, "d": None})
        elif op == 2:
            await self._identify(conn, data or {})
        elif op == 6:
            await self._resume(conn, data or {})

    async def _resume(self, conn: GatewayConnection, data: dict[str, Any]) -> None:
        """RESUME: a known session of the same bot continues on this connection (RESUMED; the fake
        replays no missed events); an unknown or invalidated one gets Invalid Session (op 9, false)."""
        self.resumes.append(data)
        session_id = str(data.get("session_id"))
        session = self.sessions.get(session_id)
        if session is None or session[0].token != data.get("token"):
            await conn.send({"op": 9, "s": None, "t": None, "d": False})
            await self._notify()
            return
        for other in self.connections:  # a resumed session leaves any older connection of it
            if other is not conn and other.session_id == session_id:
                other.app = None
        conn.app, conn.shard, conn.intents = session
        conn.session_id = session_id
        conn.seq = int(data.get("seq") or 0)
        self.resumed.append(session_id)
        await conn.dispatch("RESUMED", {})
        await self._notify()

    async def _identify(self, conn: GatewayConnection, data: dict[str, Any]) -> None:
        self.identifies.append(data)
        app = next((a for a in self.apps.values() if a.token == data.get("token")), None)
        if app is None:
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        conn.intents = int(data.get("intents") or 0)
        if conn.intents & MESSAGE_CONTENT_INTENT and not app.message_content_allowed:
            await conn.ws.close(code=4014, message=b"Disallowed intent(s).")
            return
        shard = data.get("shard") or [0, 1]
        conn.shard = (int(shard[0]), int(shard[1]))
        guilds = [g for g in self.guilds.values() if app.id in g.apps and conn.serves(g.id)]
        ready = {
            "v": 10,
            "user": {**app.user.payload(), "verified": True, "mfa_enabled": False, "email": None},
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": conn.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.gateway_url,
            "shard": list(conn.shard),
            "application": {"id": str(app.id), "flags": 1 << 19},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "auth": {},
            "_trace": ["fake-discord"],
        }
        conn.app = app
        self.sessions[conn.session_id] = (app, conn.shard, conn.intents)
        await conn.dispatch("READY", ready)
        for guild in guilds:
            await conn.dispatch("GUILD_CREATE", guild.payload(lazy=True))
        await self._notify()


def check_discord_rules(fake: FakeDiscord, rejections: int = 0, sent: int = 0) -> None:
    """What every test must leave unbroken since the given counts of ``fake.rejections`` and
    ``fake.sent``: nothing Discord would refuse, no ping, and no message that lets Discord parse
    mentions."""
    assert fake.rejections[rejections:] == [], "Discord would have refused these requests"
    assert fake.unhandled == []
    assert fake.pings == [], "a message would have pinged someone"
    for route, payload in fake.sent[sent:]:
        allowed = payload.get("allowed_mentions")
        assert allowed is not None, f"{route} sent without allowed_mentions"
        assert allowed.get("parse") == [], f"{route} lets Discord parse mentions: {allowed}"
        assert not any(allowed.get(key) for key in ("users", "roles", "replied_user")), route


async def eventually(condition: Callable[[], T | None], what: str, within: float = 60.0) -> T:
    """Poll a condition outside the fake (say, the bot's database, written just after a message
    is sent) until it holds; fails only if it never does. Tests wait for states, never durations."""
    deadline = time.monotonic() + within
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.01)


# --- reading what the bot sent ------------------------------------------------------------------


def description(message: FakeMessage) -> str:
    """The text of a message's embed descriptions: where a bot puts the body of what it shows, so
    most assertions read just this (FakeMessage.text also has titles, fields and footers)."""
    return "".join(embed.get("description", "") for embed in message.embeds)


def footer(message: FakeMessage) -> str:
    """The text of a message's embed footers: where a bot puts sources and page numbers."""
    return "".join((embed.get("footer") or {}).get("text", "") for embed in message.embeds)


def edits_of(fake: FakeDiscord, interaction: FakeInteraction) -> list[str]:
    """The contents the bot gave an interaction's response, edit by edit: the steps a member saw
    (progress, say), which the response's last state no longer shows."""
    return [
        str(data.get("content") or "")
        for route, data in fake.sent
        if route.startswith("PATCH") and interaction.token in route and route.endswith("/@original")
    ]
