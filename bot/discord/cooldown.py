"""Per-user rate limits for the expensive commands (/ask, /summary, mentions)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Hashable


class Cooldown:
    """At most ``uses`` hits per key in any ``per``-second window (a sliding window, so a burst
    is never let through at a window boundary)."""

    def __init__(
        self, uses: int, per: float, clock: Callable[[], float] = time.monotonic, max_keys: int = 10_000
    ) -> None:
        if uses < 1:
            raise ValueError("uses must be at least 1")
        self.uses = uses
        self.per = per
        self._clock = clock
        self._max_keys = max_keys
        self._hits: dict[Hashable, deque[float]] = {}

    def hit(self, key: Hashable) -> float:
        """Record a use and return 0.0, or return the seconds to wait (recording nothing)."""
        if self.per <= 0:
            return 0.0
        now = self._clock()
        hits = self._hits.setdefault(key, deque())
        while hits and now - hits[0] >= self.per:
            hits.popleft()
        if len(hits) >= self.uses:
            return max(0.0, self.per - (now - hits[0]))
        hits.append(now)
        if len(self._hits) > self._max_keys:
            self._forget_idle(now)
        return 0.0

    def _forget_idle(self, now: float) -> None:
        """Drop keys with no hit in the window, so memory stays bounded by active users."""
        for key in [k for k, hits in self._hits.items() if not hits or now - hits[-1] >= self.per]:
            del self._hits[key]


class Cooldowns:
    """One :class:`Cooldown` per command bucket ("ask", "summary"), keyed by user id."""

    def __init__(self, uses: int, per: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._uses, self._per, self._clock = uses, per, clock
        self._buckets: dict[str, Cooldown] = {}

    def hit(self, bucket: str, user_id: int) -> float:
        if bucket not in self._buckets:
            self._buckets[bucket] = Cooldown(self._uses, self._per, self._clock)
        return self._buckets[bucket].hit(user_id)
