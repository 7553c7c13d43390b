"""👍 / 👎 votes, and the pseudonyms that stand in for Discord user ids in stored state.

User ids are stored only as a keyed hash (HMAC-SHA256 with a random salt): votes by the same
person can be grouped, but a Discord id, which anyone can enumerate, cannot be recovered by
hashing candidate ids. The salt lives in the database's ``meta`` table, so every bot of a fleet
hashes alike; the first bot to start creates it, or adopts the salt an older version kept in
``<data_dir>/feedback/user-hash.salt`` so pseudonyms stay stable across the upgrade.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path
from typing import Literal

from bot.state import Database

Vote = Literal["up", "down"]
VOTES: tuple[Vote, ...] = ("up", "down")
VOTE_VALUES: dict[Vote, int] = {"up": 1, "down": -1}
SALT_KEY = "user_hash_salt"
LEGACY_SALT_FILE = Path("feedback") / "user-hash.salt"


class UserHasher:
    """A stable pseudonym for a Discord user id."""

    def __init__(self, salt: bytes) -> None:
        self._salt = salt

    def __call__(self, user_id: int) -> str:
        return hmac.new(self._salt, str(user_id).encode(), hashlib.sha256).hexdigest()[:32]


def fleet_salt(database: Database, data_dir: Path) -> bytes:
    """The salt every bot sharing ``database`` uses (blocking: call it from a worker thread)."""
    return bytes.fromhex(database.setdefault_meta(SALT_KEY, legacy_salt(data_dir) or secrets.token_hex(32)))


def legacy_salt(data_dir: Path) -> str | None:
    """The salt of the votes.jsonl era, if this data directory has a readable one."""
    try:
        text = (data_dir / LEGACY_SALT_FILE).read_text(encoding="ascii").strip()
        bytes.fromhex(text)
    except (OSError, ValueError):
        return None
    return text or None
