"""The answer core as seen from the event loop: every blocking call runs in the service's pool.

Embedding, Chroma and file parsing take tens to thousands of milliseconds; run on the event loop
they would stall Discord's heartbeat and every other user's interaction. All of it goes to the
service's one size-limited worker pool, so a burst of questions queues there instead of starting
a thread each.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bot.answering.data import Answer, Citation, Summary, Turn
from bot.discord.progress import IndexingStatus, PassageCount
from bot.discord.render import SourceLabel, SourceLabels, labels_of
from bot.discord.routing import answering_collection
from bot.service import StoryService
from index.corpus import DEFAULT_CORPUS_FILES
from index.errors import StoryBotError
from index.loaders import LoadedDocument, load_bytes
from index.store import IndexResult, SourceInfo
from index.web import canonical_url

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class TimedAnswer:
    """An answer, how long it took, and the titles and addresses of the web pages it cites."""

    answer: Answer
    latency_ms: float
    labels: SourceLabels = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AddedDocument:
    """What ``/docs add`` indexed: the store's result, and the document's title and address."""

    result: IndexResult
    title: str | None = None
    url: str | None = None

    @property
    def labels(self) -> dict[str, SourceLabel]:
        return {self.result.source: SourceLabel(self.title, self.url)} if self.title or self.url else {}


@dataclass(frozen=True, slots=True)
class RemovedDocument:
    """The document ``/docs remove`` removed, and how many passages went with it."""

    info: SourceInfo
    passages: int


def find_source(infos: Iterable[SourceInfo], given: str) -> SourceInfo | None:
    """The document an admin means: its name as indexed, the address it was fetched from (any
    spelling of the same page), or its title when only one document has it."""
    infos = list(infos)
    wanted = given.strip()
    for info in infos:
        if info.source == wanted:
            return info
    page = _canonical(wanted)
    if page is not None:
        for info in infos:
            if info.url and _canonical(info.url) == page:
                return info
    titled = [info for info in infos if info.title and info.title.casefold() == wanted.casefold()]
    return titled[0] if len(titled) == 1 else None


def _canonical(url: str) -> str | None:
    if "://" not in url:
        return None
    try:
        return canonical_url(url)
    except Exception:  # not an address after all: compared by name and title only
        return None


@dataclass(frozen=True, slots=True)
class SourceListing:
    """The documents a server's answers come from: its own, or (``own`` False, because it has
    added none) the default collection's, which is the bundled sample story when ``sample``."""

    sources: list[SourceInfo]
    own: bool
    sample: bool


class StoryBackend:
    """Async wrappers over one :class:`StoryService`."""

    def __init__(self, service: StoryService) -> None:
        self.service = service

    @property
    def workers(self) -> int:
        return self.service.pool.workers

    @property
    def streams(self) -> bool:
        """Whether answers are written by a language model, and so worth streaming."""
        return self.service.chat_model is not None

    async def _heavy(self, fn: Callable[..., T], *args: Any) -> T:
        return await self.service.run_blocking(fn, *args)

    async def warm_up(self) -> None:
        """Load the model and the default collection before the first question arrives."""
        await self._heavy(self.service.ask, "warm-up", None)

    async def ask(self, question: str, collection: str | None, history: tuple[Turn, ...] = ()) -> TimedAnswer:
        started = time.perf_counter()
        answer = await self.service.aask(question, collection, history)
        latency_ms = (time.perf_counter() - started) * 1000
        return TimedAnswer(answer, latency_ms, await self.answer_labels(collection, answer))

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
                latency_ms = (time.perf_counter() - started) * 1000
                yield TimedAnswer(item, latency_ms, await self.answer_labels(collection, item))
                return
            yield item

    async def summarize(self, mode: str, collection: str | None) -> Summary:
        """A cited summary of a collection (the bundled story when it is empty)."""
        return await self._heavy(self.service.summarize, mode, collection)

    def collection_name(self, collection: str | None) -> str:
        """The name a collection is stored under (None is the default collection)."""
        return collection or self.service.settings.collection

    async def answering_collection(self, own: str | None) -> str | None:
        """Which collection answers for a server's collection: its own once it holds a document,
        the default collection (the bundled sample) until then."""
        if own is None:
            return None
        has_documents = await self._heavy(lambda: not self.service.store(own).is_empty())
        return answering_collection(own, has_documents)

    async def answer_labels(self, collection: str | None, answer: Answer) -> dict[str, SourceLabel]:
        """The labels an answer's message and buttons need: its citations' and, for a refusal, its
        closest passage's (shown by a button, under the page's title like a citation)."""
        return await self.source_labels(collection, (*answer.citations, *answer.related))

    async def source_labels(self, collection: str | None, citations: Iterable[Citation]) -> dict[str, SourceLabel]:
        """Titles and addresses of the cited documents that have them (web pages, HTML files)."""
        sources = sorted({citation.source for citation in citations})
        if not sources:
            return {}
        infos = await self._heavy(self.service.source_infos, sources, collection)
        return labels_of(infos.values())

    async def add_document(
        self,
        data: bytes,
        name: str,
        collection: str | None,
        on_progress: Callable[[IndexingStatus], None] | None = None,
    ) -> AddedDocument:
        """Parse and index an upload into a server's own collection; ``on_progress`` is called
        (from a worker thread) as passages are planned and written."""
        return await self._heavy(lambda: self._index(load_bytes(data, name), collection, on_progress))

    async def add_url(
        self,
        url: str,
        collection: str | None,
        on_progress: Callable[[IndexingStatus], None] | None = None,
    ) -> AddedDocument:
        """Fetch a web page (its article), PDF or text file within the configured limits and index
        it; the same address again updates the same document. The fetch waits on the network, so it
        runs in a thread of its own rather than holding one of the few answering workers."""
        document = await asyncio.to_thread(self.service.fetch, url)
        return await self._heavy(lambda: self._index(document, collection, on_progress))

    def _index(
        self, document: LoadedDocument, collection: str | None, on_progress: Callable[[IndexingStatus], None] | None
    ) -> AddedDocument:
        count = PassageCount(document.title or document.source, on_progress)
        result = self.service.index_document(document, collection, count.written, count.planned)
        return AddedDocument(result, document.title, document.url)

    async def remove(self, given: str, collection: str | None) -> RemovedDocument:
        """Remove a document named by its name, address or title; an unknown one is a user error,
        not a silent no-op."""

        def run() -> RemovedDocument:
            info = find_source(self.service.sources(collection), given)
            if info is None:
                raise StoryBotError(f"There is no document named {given!r} here (see /docs list).")
            return RemovedDocument(info, self.service.remove(info.source, collection))

        return await self._heavy(run)

    async def own_sources(self, collection: str | None) -> list[SourceInfo]:
        """The documents a collection holds itself (never the sample it may fall back to)."""
        return await self._heavy(self.service.sources, collection)

    async def answering_sources(self, own: str | None) -> SourceListing:
        """What /sources and /docs list show: a server's documents, or the default collection it
        falls back to (which the bundled sample fills when empty)."""

        def run() -> SourceListing:
            if own is not None:
                infos = self.service.sources(own)
                if infos:
                    return SourceListing(infos, own=True, sample=False)
            infos = self.service.ensure_corpus(None).sources()
            sample = bool(infos) and {info.source for info in infos} <= set(DEFAULT_CORPUS_FILES)
            return SourceListing(infos, own=own is None, sample=sample)

        return await self._heavy(run)

    async def document_text(self, source: str, collection: str | None) -> str | None:
        return await self._heavy(lambda: self.service.store(collection).document_text(source))
