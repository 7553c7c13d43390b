"""The answer core as seen from the event loop: every blocking call runs in the service's pool.

Embedding, Chroma and file parsing take tens to thousands of milliseconds; run on the event loop
they would stall Discord's heartbeat and every other user's interaction. All of it goes to the
service's one size-limited worker pool, so a burst of questions queues there instead of starting
a thread each.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from bot.answering.data import Answer, Summary, Turn
from bot.service import StoryService
from index.corpus import DEFAULT_CORPUS_FILES
from index.errors import StoryBotError
from index.loaders import load_bytes
from index.store import IndexResult, SourceInfo

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class TimedAnswer:
    answer: Answer
    latency_ms: float


@dataclass(frozen=True, slots=True)
class AddedDocument:
    """The result of ``/docs add``; ``replaced_sample`` when the bundled story was dropped."""

    result: IndexResult
    replaced_sample: bool


class StoryBackend:
    """Async wrappers over one :class:`StoryService`."""

    def __init__(self, service: StoryService) -> None:
        self.service = service

    @property
    def workers(self) -> int:
        return self.service.pool.workers

    async def _heavy(self, fn: Callable[..., T], *args: Any) -> T:
        return await self.service.run_blocking(fn, *args)

    async def warm_up(self) -> None:
        """Load the model and the default collection before the first question arrives."""
        await self._heavy(self.service.ask, "warm-up", None)

    async def ask(self, question: str, collection: str | None, history: tuple[Turn, ...] = ()) -> TimedAnswer:
        started = time.perf_counter()
        answer = await self.service.aask(question, collection, history)
        return TimedAnswer(answer, (time.perf_counter() - started) * 1000)

    async def stream_answer(
        self, question: str, collection: str | None, history: tuple[Turn, ...] = (), preview_interval: float = 1.0
    ) -> AsyncIterator[str | TimedAnswer]:
        """A language model's answer as it is written: previews (each the whole text so far, at
        most one per ``preview_interval`` seconds, so edits stay within Discord's rate limits),
        then the verified answer. Without a model, only the answer."""
        from bot.llm.chain import throttle_previews

        started = time.perf_counter()
        stream = self.service.astream_answer(question, collection, history)
        async for item in throttle_previews(stream, preview_interval):
            if isinstance(item, Answer):
                yield TimedAnswer(item, (time.perf_counter() - started) * 1000)
                return
            yield item

    async def summarize(self, mode: str, collection: str | None) -> Summary:
        """A cited summary of a collection (the bundled story when it is empty)."""
        return await self._heavy(self.service.summarize, mode, collection)

    async def add_document(self, data: bytes, name: str, collection: str | None) -> AddedDocument:
        """Parse and index an upload. A collection holding only the bundled sample story gives
        it up once the server adds a document of its own: its answers then come from its own
        documents (the new one is indexed first, so the collection is never empty)."""

        def run() -> AddedDocument:
            document = load_bytes(data, name)
            before = {info.source for info in self.service.sources(collection)}
            result = self.service.index_document(document, collection)
            sample_only = bool(before) and before <= set(DEFAULT_CORPUS_FILES)
            stale = before - {document.source} if sample_only else set()
            for source in sorted(stale):
                self.service.remove(source, collection)
            return AddedDocument(result, bool(stale))

        return await self._heavy(run)

    async def remove(self, source: str, collection: str | None) -> int:
        """Remove a document; unknown names are a user error, not a silent no-op."""

        def run() -> int:
            known = {info.source for info in self.service.sources(collection)}
            if source not in known:
                raise StoryBotError(f"There is no document named {source!r} here (see /docs list).")
            return self.service.remove(source, collection)

        return await self._heavy(run)

    async def sources(self, collection: str | None, *, with_sample: bool = True) -> list[SourceInfo]:
        """The documents of a collection; ``with_sample`` shows the bundled story an empty
        collection would answer from (what /sources should say)."""

        def run() -> list[SourceInfo]:
            if with_sample:
                self.service.ensure_corpus(collection)
            return self.service.sources(collection)

        return await self._heavy(run)

    async def document_text(self, source: str, collection: str | None) -> str | None:
        return await self._heavy(lambda: self.service.store(collection).document_text(source))
