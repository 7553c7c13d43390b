"""Progress of a long job, shown by editing one message at most once per interval.

Discord rate-limits message edits, and an edit per indexed batch of a large document would run
into that limit; the last state matters, not every step. Nothing here imports Discord: the edit
is a coroutine passed in, so the throttling is tested with a list and a fake clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.discord.render import escape_markdown, plural
from bot.logs import log_event

log = logging.getLogger("storybot.discord")

PROGRESS_INTERVAL_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class IndexingStatus:
    """How far indexing one document has got: passages written of those planned so far."""

    label: str
    written: int = 0
    planned: int = 0


def progress_text(status: IndexingStatus) -> str:
    """``Indexing **Harbor bridge to reopen**… 40/120 passages``."""
    label = escape_markdown(status.label)
    if status.planned == 0:
        return f"Indexing **{label}**…"
    return f"Indexing **{label}**… {status.written}/{plural(status.planned, 'passage')}"


class PassageCount:
    """Turns the store's callbacks (passages planned, passages written) into statuses for
    ``report``. Used on the one worker thread that runs the job."""

    def __init__(self, label: str, report: Callable[[IndexingStatus], None] | None) -> None:
        self.status = IndexingStatus(label)
        self._report = report

    def planned(self, passages: int) -> None:
        self._update(IndexingStatus(self.status.label, self.status.written, self.status.planned + passages))

    def written(self, passages: int) -> None:
        self._update(IndexingStatus(self.status.label, self.status.written + passages, self.status.planned))

    def _update(self, status: IndexingStatus) -> None:
        self.status = status
        if self._report is not None:
            self._report(status)


class ThrottledEdits:
    """Show the latest of a stream of texts with ``show``, at most once per ``interval`` seconds
    and never before ``interval`` has passed since the start: a job that ends quickly edits
    nothing, and a long one shows its latest state every interval. Use as an async context
    manager; on exit a pending edit is dropped (the caller then shows the outcome)."""

    def __init__(
        self,
        show: Callable[[str], Awaitable[object]],
        interval: float = PROGRESS_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self._show = show
        self.interval = max(0.0, interval)
        self._clock = clock
        self._sleep = sleep
        self._latest: str | None = None
        self._shown: str | None = None
        self._last = clock()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    async def __aenter__(self) -> ThrottledEdits:
        self._loop = asyncio.get_running_loop()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def update(self, text: str) -> None:
        """A new state to show (call on the event loop); ignored once closed."""
        if self._closed:
            return
        self._latest = text
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._flush())

    def update_from_thread(self, text: str) -> None:
        """``update`` for a worker thread: handed to the event loop, which does the editing."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.update, text)

    async def _flush(self) -> None:
        while self._latest is not None and self._latest != self._shown:
            wait = self._last + self.interval - self._clock()
            if wait > 0:
                await self._sleep(wait)
            text = self._latest
            try:
                await self._show(text)
            except Exception as exc:  # a failed progress edit must not fail the job itself
                log_event(log, "progress_edit_failed", logging.WARNING, error=str(exc))
                return
            finally:
                self._last = self._clock()
            self._shown = text

    async def close(self) -> None:
        """Stop editing; a pending edit is dropped, one under way is cancelled."""
        self._closed = True
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None
        self._latest = None
