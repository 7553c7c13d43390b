"""The one size-limited pool where story-bot's blocking work runs (embedding, Chroma, model calls).

The Discord bot must never block its event loop, and a burst of questions must queue rather than
start a thread each; both faces therefore hand blocking work to this pool, which the service owns.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

_LOCAL = threading.local()


def _mark_worker() -> None:
    _LOCAL.in_pool = True


class WorkerPool:
    """A bounded thread pool that knows its own threads (so nested waits cannot deadlock it)."""

    def __init__(self, workers: int, name: str = "storybot-work") -> None:
        self.workers = workers
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name, initializer=_mark_worker)

    @staticmethod
    def in_worker() -> bool:
        """Whether the calling thread is one of a pool's workers."""
        return bool(getattr(_LOCAL, "in_pool", False))

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        return self._executor.submit(fn, *args)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` in the pool and await its result without blocking the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, functools.partial(fn, *args))

    def call_within(self, fn: Callable[[], T], timeout: float) -> T:
        """``fn()`` with a time limit the caller can rely on even if ``fn`` ignores its own.

        From a worker thread ``fn`` runs inline instead: waiting on the pool from inside it could
        deadlock a full pool, and the caller is already off the event loop.
        """
        if self.in_worker():
            return fn()
        future = self._executor.submit(fn)
        try:
            return future.result(timeout=timeout)
        except TimeoutError:
            future.cancel()
            raise

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
