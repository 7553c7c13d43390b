"""The bot: a ``commands.Bot`` that receives its dependencies and wires the cogs to them."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import json
import logging
import time
from typing import Any

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.ask_cog import AskCog
from bot.discord.backend import StoryBackend, TimedAnswer
from bot.discord.buttons import DYNAMIC_ITEMS
from bot.discord.cooldown import Cooldowns
from bot.discord.docs_cog import DocsCog
from bot.discord.errors import OnCooldown
from bot.discord.feedback import UserHasher
from bot.discord.progress import PROGRESS_INTERVAL_SECONDS
from bot.discord.replies import NO_PINGS, reply_error, send_ephemeral
from bot.discord.server_settings import DMS_CLOSED
from bot.discord.settings_cog import SettingsCog
from bot.discord.state import BotState
from bot.discord.stats_cog import StatsCog
from bot.discord.thread_cog import ThreadCog
from bot.discord.vote_reason import VoteReasonCog
from bot.logs import log_event, passage_ids
from bot.service import StoryService
from bot.state import Database
from config import Settings
from index.errors import StoryBotError

log = logging.getLogger("storybot.discord")

HTTP_CONNECTIONS = 32
PURGE_EVERY_SECONDS = 24 * 3600


class StoryTree(app_commands.CommandTree["StoryBot"]):
    """The one error handler of every slash command: user errors become friendly ephemeral
    replies, anything else is logged with its traceback and the user gets an apology."""

    async def on_error(self, interaction: discord.Interaction[StoryBot], error: app_commands.AppCommandError) -> None:
        name = interaction.command.qualified_name if interaction.command else "unknown command"
        await reply_error(interaction, error, f"/{name}")

    async def interaction_check(self, interaction: discord.Interaction[StoryBot], /) -> bool:
        """Direct messages get answers only when the operator allows them (``answer_dms``). The
        commands are then declared for servers only, but a client may still offer ones synced
        before; those get a polite note instead of silence."""
        if interaction.guild_id is not None or interaction.client.settings.answer_dms:
            return True
        if interaction.type is discord.InteractionType.autocomplete:
            await interaction.response.autocomplete([])
        else:
            await send_ephemeral(interaction, DMS_CLOSED)
        return False


def intents() -> discord.Intents:
    """Default intents plus Message Content, which follow-ups in threads need (a privileged
    intent to enable in the Developer Portal). No member list or presences are needed."""
    chosen = discord.Intents.default()
    chosen.message_content = True
    return chosen


def dev_guild_id(settings: Settings) -> int | None:
    """``STORYBOT_DEV_GUILD``: commands sync to this guild instantly instead of globally."""
    value = settings.dev_guild.strip()
    if not value:
        return None
    if not value.isdigit():
        raise StoryBotError(f"STORYBOT_DEV_GUILD must be a server id (digits only), not {value!r}.")
    return int(value)


def freeze_startup_objects() -> None:
    """Move everything loaded so far (the model, Chroma, discord.py) out of the garbage
    collector's view. A full collection over those objects holds the GIL for 100-300 ms, which
    stalls the event loop (measured with bench/discord_load.py); frozen, they are never scanned."""
    gc.collect()
    gc.freeze()


def commands_digest(payloads: list[dict[str, Any]]) -> str:
    """A fingerprint of the command definitions Discord would be sent (order-independent)."""
    canonical = sorted(json.dumps(payload, sort_keys=True, ensure_ascii=False) for payload in payloads)
    return hashlib.sha256("\n".join(canonical).encode()).hexdigest()


class StoryBot(commands.Bot):
    """story-bot on Discord. Everything it uses is passed in; ``setup_hook`` adds the cogs and
    the dynamic buttons, and syncs the slash commands when their definitions changed."""

    def __init__(
        self,
        settings: Settings,
        backend: StoryBackend,
        state: BotState,
        *,
        warm_up: bool = True,
        freeze_gc: bool = False,
        progress_interval: float = PROGRESS_INTERVAL_SECONDS,
        **options: Any,
    ) -> None:
        options.setdefault("allowed_mentions", NO_PINGS)
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents(),
            help_command=None,
            tree_cls=StoryTree,
            **options,
        )
        self.settings = settings
        self.backend = backend
        self.state = state
        self.cooldowns = Cooldowns(settings.ask_cooldown_uses, settings.ask_cooldown_seconds)
        self.dev_guild = dev_guild_id(settings)
        self._hasher: UserHasher | None = None  # needs the fleet's salt, read in setup_hook
        self._warm_up = warm_up
        self._freeze_gc = freeze_gc
        self._purger: asyncio.Task[None] | None = None
        self.progress_interval = progress_interval  # seconds between progress edits of long jobs
        if not settings.answer_dms:
            self.tree.allowed_contexts = app_commands.AppCommandContext(guild=True)

    async def login(self, token: str) -> None:
        """Log in over a bounded pool of keep-alive connections. discord.py's default pool is
        unbounded, so a burst of interactions opens a socket (on Discord, a TLS handshake) per
        acknowledgement, all on the event loop; reusing a few keeps the loop responsive
        (bench/discord_load.py: worst loop lag about halved), and acks stay far below 3 s."""
        if self.http.connector is discord.utils.MISSING:
            self.http.connector = aiohttp.TCPConnector(limit=HTTP_CONNECTIONS)
        await super().login(token)

    async def setup_hook(self) -> None:
        self._hasher = UserHasher(await self.state.salt(self.settings.resolved_data_dir()))
        await self.add_cog(AskCog(self))
        await self.add_cog(DocsCog(self))
        await self.add_cog(SettingsCog(self))
        await self.add_cog(ThreadCog(self))
        await self.add_cog(StatsCog(self))
        await self.add_cog(VoteReasonCog(self))
        self.add_dynamic_items(*DYNAMIC_ITEMS)
        if self._warm_up:
            started = time.perf_counter()
            await self.backend.warm_up()
            log_event(log, "ready", seconds=round(time.perf_counter() - started, 1))
        if self._freeze_gc:
            freeze_startup_objects()
        await self.sync_commands()
        self._purger = asyncio.create_task(self.purge_expired_state())

    async def sync_commands(self) -> bool:
        """Sync the slash commands if their definitions differ from the last sync (a hash kept
        in the database, per application and scope); True if they were synced. Syncing on every
        start would spend Discord's daily command-update limit on restarts."""
        guild = None if self.dev_guild is None else discord.Object(self.dev_guild)
        if guild is not None:
            self.tree.copy_global_to(guild=guild)
        scope = "global" if guild is None else str(guild.id)
        digest = commands_digest([command.to_dict(self.tree) for command in self.tree.get_commands(guild=guild)])
        app_id = self.application_id or 0
        if await self.state.commands_hash(app_id, scope) == digest:
            log_event(log, "commands_unchanged", scope=scope)
            return False
        synced = await self.tree.sync(guild=guild)
        await self.state.remember_commands_hash(app_id, scope, digest)
        if guild is None:
            log_event(
                log, "commands_synced", commands=len(synced), scope=scope, note="may take up to an hour to appear"
            )
        else:
            log_event(log, "commands_synced", commands=len(synced), guild=self.dev_guild)
        return True

    async def purge_expired_state(self) -> None:
        """Delete answers, votes and thread turns past the retention period: now, then daily."""
        while True:
            try:
                counts = await self.state.purge()
                log_event(log, "state_purged", answers=counts.answers, votes=counts.votes, turns=counts.turns)
            except Exception as exc:  # a database hiccup must not end the loop
                log_event(log, "state_purge_failed", logging.WARNING, error=str(exc))
            await asyncio.sleep(PURGE_EVERY_SECONDS)

    def hash_user(self, user_id: int) -> str:
        """The pseudonym stored (and logged) for a Discord user id."""
        if self._hasher is None:
            raise RuntimeError("user pseudonyms are available once setup_hook has read the salt")
        return self._hasher(user_id)

    def use_cooldown(self, bucket: str, user_id: int) -> None:
        """Count one question (or summary) against the user's rate limit, or raise OnCooldown."""
        retry_after = self.cooldowns.hit(bucket, user_id)
        if retry_after > 0:
            raise OnCooldown(retry_after)

    async def on_message(self, message: discord.Message, /) -> None:
        """No prefix commands: messages are handled by ``ThreadCog`` only."""

    async def on_ready(self) -> None:
        log_event(log, "connected", user=str(self.user), guilds=len(self.guilds))

    def log_answer(
        self, surface: str, guild_id: int | None, user_id: int, timed: TimedAnswer, started: float, **extra: Any
    ) -> None:
        """One structured line per answer: where, who (hashed), how fast, and which passages."""
        answer = timed.answer
        log_event(
            log,
            "answer",
            surface=surface,
            guild=guild_id or "dm",
            user=self.hash_user(user_id)[:12],
            grounded=answer.grounded,
            confidence=round(answer.confidence, 3),
            citations=len(answer.citations),
            answer_ms=timed.latency_ms,
            latency_ms=(time.perf_counter() - started) * 1000,
            passages=passage_ids(answer.citations or answer.related),
            **extra,
        )

    async def close(self) -> None:
        if self._purger is not None:
            self._purger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._purger
        await super().close()
        self.state.close()


class ShardedStoryBot(StoryBot, commands.AutoShardedBot):
    """The same bot over several gateway connections (``shards`` > 0 in the settings)."""


def build_bot(
    settings: Settings,
    service: StoryService,
    database: Database,
    *,
    warm_up: bool = True,
    freeze_gc: bool = False,
    **options: Any,
) -> StoryBot:
    """The factory the runner and the tests use: one settings object, one service, one open
    database (migrated), no globals. Closing the bot leaves the service and database open: their
    owner closes them.

    ``freeze_gc`` is for a process that is only the bot (``storybot run``): see
    :func:`freeze_startup_objects`.
    """
    backend = StoryBackend(service)
    state = BotState(database, retention_days=settings.retention_days, history_turns=settings.history_turns)
    if settings.shards > 0:
        options["shard_count"] = settings.shards
        return ShardedStoryBot(settings, backend, state, warm_up=warm_up, freeze_gc=freeze_gc, **options)
    return StoryBot(settings, backend, state, warm_up=warm_up, freeze_gc=freeze_gc, **options)
