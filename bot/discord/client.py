"""The bot: a ``commands.Bot`` that receives its dependencies and wires the cogs to them."""

from __future__ import annotations

import gc
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
from bot.discord.conversations import Conversations
from bot.discord.cooldown import Cooldowns
from bot.discord.docs_cog import DocsCog
from bot.discord.feedback import FeedbackStore
from bot.discord.registry import ShownRegistry
from bot.discord.replies import NO_PINGS, reply_error
from bot.discord.thread_cog import ThreadCog
from bot.logs import log_event, passage_ids
from bot.service import StoryService
from config import Settings
from index.errors import StoryBotError

log = logging.getLogger("storybot.discord")

HTTP_CONNECTIONS = 32


class StoryTree(app_commands.CommandTree["StoryBot"]):
    """The one error handler of every slash command: user errors become friendly ephemeral
    replies, anything else is logged with its traceback and the user gets an apology."""

    async def on_error(self, interaction: discord.Interaction[StoryBot], error: app_commands.AppCommandError) -> None:
        name = interaction.command.qualified_name if interaction.command else "unknown command"
        await reply_error(interaction, error, f"/{name}")


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


class StoryBot(commands.Bot):
    """story-bot on Discord. Everything it uses is passed in; ``setup_hook`` adds the cogs and
    the dynamic buttons and syncs the slash commands."""

    def __init__(
        self,
        settings: Settings,
        backend: StoryBackend,
        feedback: FeedbackStore,
        *,
        warm_up: bool = True,
        freeze_gc: bool = False,
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
        self.feedback = feedback
        self.registry = ShownRegistry()
        self.conversations = Conversations(max_turns=max(1, settings.history_turns))
        self.cooldowns = Cooldowns(settings.ask_cooldown_uses, settings.ask_cooldown_seconds)
        self.dev_guild = dev_guild_id(settings)
        self._warm_up = warm_up
        self._freeze_gc = freeze_gc

    async def login(self, token: str) -> None:
        """Log in over a bounded pool of keep-alive connections. discord.py's default pool is
        unbounded, so a burst of interactions opens a socket (on Discord, a TLS handshake) per
        acknowledgement, all on the event loop; reusing a few keeps the loop responsive
        (bench/discord_load.py: worst loop lag about halved), and acks stay far below 3 s."""
        if self.http.connector is discord.utils.MISSING:
            self.http.connector = aiohttp.TCPConnector(limit=HTTP_CONNECTIONS)
        await super().login(token)

    async def setup_hook(self) -> None:
        await self.add_cog(AskCog(self))
        await self.add_cog(DocsCog(self))
        await self.add_cog(ThreadCog(self))
        self.add_dynamic_items(*DYNAMIC_ITEMS)
        if self._warm_up:
            started = time.perf_counter()
            await self.backend.warm_up()
            log_event(log, "ready", seconds=round(time.perf_counter() - started, 1))
        if self._freeze_gc:
            freeze_startup_objects()
        await self.sync_commands()

    async def sync_commands(self) -> None:
        if self.dev_guild is not None:
            guild = discord.Object(self.dev_guild)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log_event(log, "commands_synced", commands=len(synced), guild=self.dev_guild)
        else:
            synced = await self.tree.sync()
            log_event(
                log, "commands_synced", commands=len(synced), scope="global", note="may take up to an hour to appear"
            )

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
            user=self.feedback.hash_user(user_id)[:12],
            grounded=answer.grounded,
            confidence=round(answer.confidence, 3),
            citations=len(answer.citations),
            answer_ms=timed.latency_ms,
            latency_ms=(time.perf_counter() - started) * 1000,
            passages=passage_ids(answer.citations or answer.related),
            **extra,
        )

    async def close(self) -> None:
        await super().close()


class ShardedStoryBot(StoryBot, commands.AutoShardedBot):
    """The same bot over several gateway connections (``shards`` > 0 in the settings)."""


def build_bot(
    settings: Settings,
    service: StoryService,
    feedback: FeedbackStore | None = None,
    *,
    warm_up: bool = True,
    freeze_gc: bool = False,
    **options: Any,
) -> StoryBot:
    """The factory the runner and the tests use: one settings object, one service, no globals.

    ``freeze_gc`` is for a process that is only the bot (``storybot run``): see
    :func:`freeze_startup_objects`.
    """
    backend = StoryBackend(service)
    feedback = feedback or FeedbackStore.in_data_dir(settings.resolved_data_dir())
    if settings.shards > 0:
        options["shard_count"] = settings.shards
        return ShardedStoryBot(settings, backend, feedback, warm_up=warm_up, freeze_gc=freeze_gc, **options)
    return StoryBot(settings, backend, feedback, warm_up=warm_up, freeze_gc=freeze_gc, **options)
