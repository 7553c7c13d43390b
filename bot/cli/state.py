"""The bot's database as the admin commands (``stats``, ``feedback export``) open it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from index.errors import StoryBotError

if TYPE_CHECKING:
    from bot.state import Database
    from config import Settings

NO_DATABASE = (
    "There is no bot database yet: {path} does not exist. Questions and votes are recorded once "
    "`storybot run` has answered some; if the bot keeps them elsewhere, set STORYBOT_DATA_DIR or "
    "STORYBOT_DATABASE_URL as it does."
)


def open_bot_database(settings: Settings) -> Database:
    """The configured database, as the bot uses it. A missing SQLite file is an error rather than
    a new empty database: a report on it would only hide a wrong data directory."""
    from bot.state import SQLITE_FILENAME, StateError, open_database

    url = settings.database_url.get_secret_value()
    data_dir = settings.resolved_data_dir()
    sqlite_file = data_dir / SQLITE_FILENAME
    if not url.strip() and not sqlite_file.is_file():
        raise StoryBotError(NO_DATABASE.format(path=sqlite_file))
    try:
        return open_database(url, data_dir)
    except StateError as exc:
        raise StoryBotError(str(exc)) from None
