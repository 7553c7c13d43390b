"""What each answer message shows, so its buttons (passage, vote, pages) can act on it later.

Button custom ids carry only a short key into this registry; it is bounded (least recently used
entries go first) and lives in memory, so buttons on messages from before a restart reply with
a polite "ask again" instead of failing.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal

from bot.answering.data import Answer, Citation, Summary
from bot.discord.render import Page, render_answer, render_summary, summary_title

KEY_HEX_CHARS = 16


@dataclass(frozen=True, slots=True)
class Shown:
    """An answer or summary as rendered into a message."""

    kind: Literal["answer", "summary"]
    question: str
    text: str
    grounded: bool
    citations: tuple[Citation, ...]
    pages: tuple[Page, ...]
    collection: str | None
    guild_id: int | None

    def citation(self, n: int) -> Citation | None:
        return next((c for c in self.citations if c.n == n), None)


class ShownRegistry:
    """A bounded map from random keys to :class:`Shown` entries."""

    def __init__(self, capacity: int = 5000) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, Shown] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, shown: Shown) -> str:
        key = secrets.token_hex(KEY_HEX_CHARS // 2)
        with self._lock:
            self._entries[key] = shown
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        return key

    def get(self, key: str) -> Shown | None:
        with self._lock:
            shown = self._entries.get(key)
            if shown is not None:
                self._entries.move_to_end(key)
            return shown

    def clear(self) -> None:
        """Forget everything, as a restart does."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


def answer_shown(answer: Answer, collection: str | None, guild_id: int | None) -> Shown:
    return Shown(
        "answer",
        answer.question,
        answer.answer,
        answer.grounded,
        tuple(answer.citations),
        tuple(render_answer(answer)),
        collection,
        guild_id,
    )


def summary_shown(summary: Summary, collection: str | None, guild_id: int | None) -> Shown:
    return Shown(
        "summary",
        summary_title(summary),
        summary.text(),
        bool(summary.lines),
        tuple(summary.citations),
        tuple(render_summary(summary)),
        collection,
        guild_id,
    )
