"""👍 / 👎 votes on answers, kept as JSON lines under the data directory.

User ids are stored only as a keyed hash (HMAC-SHA256 with a random per-installation salt):
votes by the same person can be grouped, but a Discord id, which anyone can enumerate, cannot be
recovered by hashing candidate ids.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from bot.answering.data import Citation

Vote = Literal["up", "down"]
VOTES: tuple[Vote, ...] = ("up", "down")


@dataclass(frozen=True, slots=True)
class FeedbackRecord:
    """One vote, with what was asked and shown so the answer can be judged later."""

    question: str
    answer: str
    citations: list[dict[str, Any]]
    vote: Vote
    user: str
    guild: str | None
    timestamp: str
    kind: str = "answer"
    grounded: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class FeedbackStore:
    """Appends votes to ``votes.jsonl``; safe to share between threads of one process."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / "votes.jsonl"
        self._salt_path = directory / "user-hash.salt"
        self._salt: bytes | None = None
        self._lock = threading.Lock()

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> FeedbackStore:
        return cls(data_dir / "feedback")

    def _salt_bytes(self) -> bytes:
        """The installation's salt, created on first use (never at import or construction)."""
        if self._salt is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            if not self._salt_path.exists():
                fd = os.open(self._salt_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w", encoding="ascii") as out:
                    out.write(secrets.token_hex(32))
            self._salt = bytes.fromhex(self._salt_path.read_text(encoding="ascii").strip())
        return self._salt

    def hash_user(self, user_id: int) -> str:
        """A stable pseudonym for a Discord user id."""
        with self._lock:
            salt = self._salt_bytes()
        return hmac.new(salt, str(user_id).encode(), hashlib.sha256).hexdigest()[:32]

    def record(
        self,
        *,
        question: str,
        answer: str,
        citations: Sequence[Citation],
        vote: Vote,
        user_id: int,
        guild_id: int | None,
        kind: str = "answer",
        grounded: bool = True,
    ) -> FeedbackRecord:
        """Build and append one vote; returns what was written."""
        entry = FeedbackRecord(
            question=question,
            answer=answer,
            citations=[c.to_dict() for c in citations],
            vote=vote,
            user=self.hash_user(user_id),
            guild=None if guild_id is None else str(guild_id),
            timestamp=utc_now(),
            kind=kind,
            grounded=grounded,
        )
        self.append(entry)
        return entry

    def append(self, entry: FeedbackRecord) -> None:
        line = entry.to_json() + "\n"
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as out:
                out.write(line)

    def read(self) -> list[FeedbackRecord]:
        """Every vote so far (for analysis and tests)."""
        if not self.path.exists():
            return []
        with self._lock:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        return [FeedbackRecord(**json.loads(line)) for line in lines if line.strip()]
