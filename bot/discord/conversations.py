"""The question-and-answer history of each thread (and DM), for follow-up questions."""

from __future__ import annotations

import threading
from collections import OrderedDict, deque

from bot.answering.data import Turn


class Conversations:
    """The last ``max_turns`` turns of up to ``max_threads`` conversations, keyed by channel id.

    Kept in memory: after a restart a thread's follow-ups are answered without the earlier turns,
    which degrades gracefully (the question is still answered on its own).
    """

    def __init__(self, max_turns: int = 3, max_threads: int = 5000) -> None:
        self.max_turns = max(1, max_turns)
        self.max_threads = max_threads
        self._turns: OrderedDict[int, deque[Turn]] = OrderedDict()
        self._lock = threading.Lock()

    def start(self, channel_id: int) -> None:
        """Remember a conversation the bot opened (a thread it created), even before any turn."""
        with self._lock:
            self._touch(channel_id)

    def add(self, channel_id: int, turn: Turn) -> None:
        with self._lock:
            self._touch(channel_id).append(turn)

    def history(self, channel_id: int) -> tuple[Turn, ...]:
        with self._lock:
            turns = self._turns.get(channel_id)
            return tuple(turns) if turns else ()

    def __contains__(self, channel_id: object) -> bool:
        return channel_id in self._turns

    def _touch(self, channel_id: int) -> deque[Turn]:
        turns = self._turns.get(channel_id)
        if turns is None:
            turns = self._turns[channel_id] = deque(maxlen=self.max_turns)
        self._turns.move_to_end(channel_id)
        while len(self._turns) > self.max_threads:
            self._turns.popitem(last=False)
        return turns
