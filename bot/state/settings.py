"""Per-guild settings (a JSON dict each) and the bot's own key/value ``meta`` (e.g. the hash of the
slash-command definitions, so commands are synced only when they change)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from bot.state.schema import guild_settings, meta
from bot.state.upsert import insert_or_ignore, insert_or_update


def select_guild_settings(connection: Connection, guild_id: str) -> dict[str, Any]:
    """The guild's stored settings; an empty dict when it never changed any."""
    statement = select(guild_settings.c.settings).where(guild_settings.c.guild_id == guild_id)
    stored = connection.execute(statement).scalar_one_or_none()
    return dict(stored) if stored else {}


def merge_guild_settings(
    connection: Connection, guild_id: str, changes: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    """Apply ``changes`` (a None value removes that key, restoring its default) and return the result.

    The row is created first and then locked (FOR UPDATE on PostgreSQL; SQLite's write transaction
    already excludes other writers), so two admins changing different keys at once both win.
    """
    insert_or_ignore(
        connection, guild_settings, {"guild_id": guild_id, "settings": {}, "updated_at": now}, ["guild_id"]
    )
    locked = select(guild_settings.c.settings).where(guild_settings.c.guild_id == guild_id).with_for_update()
    merged = merged_settings(connection.execute(locked).scalar_one(), changes)
    connection.execute(
        update(guild_settings).where(guild_settings.c.guild_id == guild_id).values(settings=merged, updated_at=now)
    )
    return merged


def merged_settings(current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(current)
    for key, value in changes.items():
        if not isinstance(key, str):
            raise TypeError(f"Setting names are strings, not {key!r}")
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def select_meta(connection: Connection, key: str) -> str | None:
    return connection.execute(select(meta.c.value).where(meta.c.key == key)).scalar_one_or_none()


def upsert_meta(connection: Connection, key: str, value: str, now: datetime) -> None:
    insert_or_update(connection, meta, {"key": key, "value": value, "updated_at": now}, key=["key"])


def insert_meta_if_absent(connection: Connection, key: str, value: str, now: datetime) -> str:
    """Store ``value`` unless the key is set, and return what is stored: the first writer wins, so
    every bot of a fleet ends up with the same value (e.g. a shared salt)."""
    insert_or_ignore(connection, meta, {"key": key, "value": value, "updated_at": now}, key=["key"])
    stored = select_meta(connection, key)
    assert stored is not None  # inserted above or already there
    return stored
