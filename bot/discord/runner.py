"""``storybot run``: start the bot, turning start-up failures into one clear error line."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Any

import aiohttp
import discord

from bot.discord.client import StoryBot, build_bot
from bot.logs import configure_logging, log_event
from bot.state import Database, StateError, open_database
from config import Settings
from index.errors import StoryBotError

log = logging.getLogger("storybot.discord")

MISSING_TOKEN = (
    "No Discord bot token: set STORYBOT_DISCORD_TOKEN (or DISCORD_TOKEN) to the token from the "
    "Developer Portal (your application → Bot → Reset Token)."
)
REJECTED_TOKEN = (
    "Discord rejected the bot token in STORYBOT_DISCORD_TOKEN: copy it again from the Developer "
    "Portal (your application → Bot → Reset Token)."
)
MISSING_INTENT = (
    "Discord refused the Message Content intent: enable it in the Developer Portal "
    "(your application → Bot → Privileged Gateway Intents → Message Content Intent)."
)


def bot_token(settings: Settings) -> str:
    token = settings.discord_token.get_secret_value().strip()
    if not token:
        raise StoryBotError(MISSING_TOKEN)
    return token


def run_bot(settings: Settings, **options: Any) -> None:
    """Run until interrupted. A missing or rejected token, a refused intent or an unreachable
    Discord is a :class:`StoryBotError` with a one-line message (the CLI prints it)."""
    token = bot_token(settings)
    configure_logging(settings)
    try:
        asyncio.run(serve(settings, token, **options))
    except discord.LoginFailure:
        raise StoryBotError(REJECTED_TOKEN) from None
    except discord.PrivilegedIntentsRequired:
        raise StoryBotError(MISSING_INTENT) from None
    except (aiohttp.ClientConnectionError, discord.GatewayNotFound) as exc:
        raise StoryBotError(
            "Could not reach Discord; check the network and try again.", detail=f"{type(exc).__name__}: {exc}"
        ) from None


def open_state(settings: Settings) -> Database:
    """The bot's database with its migrations applied (several bots may start at once: the
    migrations take a lock). A bad URL, a missing driver or an unreachable server is one line."""
    try:
        database = open_database(settings.database_url.get_secret_value(), settings.resolved_data_dir())
    except StateError as exc:
        raise StoryBotError(str(exc)) from None
    log_event(log, "state_opened", database=database.display_url)
    return database


async def serve(settings: Settings, token: str, **options: Any) -> None:
    """Start the bot and close it cleanly on SIGTERM/SIGINT (containers, Ctrl-C)."""
    from bot.service import build_service

    options.setdefault("freeze_gc", True)
    database = open_state(settings)
    try:
        service = build_service(settings)
        try:
            await _serve_bot(build_bot(settings, service, database, **options), token)
        finally:
            service.close()
    finally:
        database.close()


async def _serve_bot(bot: StoryBot, token: str) -> None:
    """Run the bot until it stops or a signal asks it to."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    async with bot:
        runner = asyncio.create_task(bot.start(token))
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if stopper in done:
            log_event(log, "shutting_down")
            await bot.close()
        stopper.cancel()
        await runner  # re-raises a start-up failure (bad token, refused intent)
