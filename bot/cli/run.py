"""``storybot run``: the Discord bot."""

from __future__ import annotations

from bot.cli.common import app


@app.command("run")
def run_command() -> None:
    """Start the Discord bot (needs STORYBOT_DISCORD_TOKEN)."""
    from bot.discord.runner import run_bot
    from config import load_settings

    run_bot(load_settings())
