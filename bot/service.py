"""One object the CLI and the Discord bot share: stores, retrievers and answer chains per collection."""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from langchain_core.runnables import Runnable

from bot.answering.answerer import Answerer, AnswererModel, ExtractiveAnswerer, ReaderAnswerer
from bot.answering.chain import build_answer_chain
from bot.answering.data import Answer, Summary, Turn
from bot.answering.extractive import FEATURES, RefusalModel, SentenceWeights
from bot.answering.questions import AnswerRequest
from bot.workers import WorkerPool
from config import Settings
from index.corpus import default_corpus
from index.embeddings import MiniLMEmbeddings, shared_embeddings
from index.errors import DocumentError
from index.loaders import LoadedDocument, iter_document_paths, load_document
from index.retriever import HybridRetriever, KeywordIndexCache
from index.store import IndexResult, PassageStore, SourceInfo, open_client

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from bot.answering.reader import SentenceReader
    from bot.llm.model import ChatModelSource, TimedChatModel

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class IndexFailure:
    """A file that could not be indexed, with the reason to show the user."""

    path: str
    error: str


def sentence_weights(settings: Settings) -> SentenceWeights:
    """The sentence-ranking weights from settings (fields ``rank_w_<feature>``)."""
    return SentenceWeights(**{name: getattr(settings, f"rank_w_{name}") for name in FEATURES})


def refusal_model(settings: Settings) -> RefusalModel:
    return RefusalModel(
        settings.refusal_bias,
        settings.refusal_w_dense,
        settings.refusal_w_coverage,
        settings.refusal_w_missing,
        settings.refusal_threshold,
    )


def is_url(text: str) -> bool:
    """A web address to fetch rather than a file name (any scheme given is checked when fetching)."""
    return "://" in text and not text.startswith("file:")


def worker_count(settings: Settings) -> int:
    """``worker_threads``, or by default one per core up to four (answering is CPU-bound)."""
    return settings.worker_threads or max(1, min(4, os.cpu_count() or 1))


def build_service(settings: Settings, embeddings: MiniLMEmbeddings | None = None) -> StoryService:
    """The service for ``settings``, with the configured chat model (if any) built once.

    A misconfigured model (unknown provider, missing extra or model name) fails here, at start-up.
    """
    chat_model = None
    if settings.llm_provider.strip().lower() not in {"", "none"}:
        from bot.llm.model import chat_model_from_settings  # provider packages load only when used

        chat_model = chat_model_from_settings(settings)
    return StoryService(settings, embeddings, chat_model=chat_model)


class StoryService:
    """The one object both faces use: per collection, the store and answer chain from one
    ``Settings``; one chat model (optional) and one worker pool for every collection."""

    def __init__(
        self,
        settings: Settings,
        embeddings: MiniLMEmbeddings | None = None,
        chat_model: ChatModelSource | BaseChatModel | None = None,
        pool: WorkerPool | None = None,
    ) -> None:
        self.settings = settings
        self._embeddings = embeddings
        self._stores: dict[str, PassageStore] = {}
        self._chains: dict[str, Runnable[Any, Answer]] = {}
        self._keyword_cache = KeywordIndexCache(settings.resolved_data_dir() / "keywords")
        self._lock = threading.RLock()
        self.sentence_weights = sentence_weights(settings)
        self.pool = pool or WorkerPool(worker_count(settings))
        self._reader: tuple[SentenceReader, AnswererModel] | None = None
        self.chat_model: TimedChatModel | None = None
        if chat_model is not None:
            from bot.llm.model import TimedChatModel

            self.chat_model = TimedChatModel(chat_model, self.pool)

    async def run_blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking work (embedding, Chroma, parsing) in the service's pool, off the event loop."""
        return await self.pool.run(fn, *args)

    def close(self) -> None:
        self.pool.shutdown()

    @property
    def embeddings(self) -> MiniLMEmbeddings:
        if self._embeddings is None:
            s = self.settings
            self._embeddings = shared_embeddings(s.resolved_model_path(), s.embed_batch_size, s.embedding_cache_size)
        return self._embeddings

    def store(self, collection: str | None = None) -> PassageStore:
        """The passage store of a collection (created on first use)."""
        name = collection or self.settings.collection
        with self._lock:
            if name not in self._stores:
                s = self.settings
                client = open_client(s.resolved_data_dir(), s.chroma_url, s.chroma_timeout)
                self._stores[name] = PassageStore(
                    client,
                    name,
                    self.embeddings,
                    s.model_path,
                    s.chunk_chars,
                    s.overlap_sentences,
                    s.index_batch_passages,
                )
            return self._stores[name]

    def ensure_corpus(self, collection: str | None = None) -> PassageStore:
        """The default collection, while nothing is indexed in it, answers from the bundled seed
        story. Other collections (a server's own) never get a copy: the sample is shared, and a
        copy would be a document nobody added."""
        store = self.store(collection)
        if (collection or self.settings.collection) == self.settings.collection and store.is_empty():
            for document in default_corpus():
                store.index_document(document)
        return store

    def index_document(
        self,
        document: LoadedDocument,
        collection: str | None = None,
        progress: Callable[[int], None] | None = None,
        planned: Callable[[int], None] | None = None,
    ) -> IndexResult:
        """Add or update one document; ``planned`` and ``progress`` count the passages to write
        and those written (see :meth:`PassageStore.index_documents`)."""
        return self.store(collection).index_document(document, progress, planned)

    def fetch(self, url: str) -> LoadedDocument:
        """A web page (its article only), PDF or text file, fetched within the configured limits:
        size (``max_upload_bytes``), time (``url_timeout``), redirects, and public addresses only
        unless ``url_allow_private``."""
        from index.web import fetch_document

        s = self.settings
        return fetch_document(
            url,
            max_bytes=s.max_upload_bytes,
            timeout=s.url_timeout,
            max_redirects=s.url_max_redirects,
            allow_private=s.url_allow_private,
        )

    def index_paths(
        self,
        paths: Iterable[Path | str],
        collection: str | None = None,
        on_result: Callable[[IndexResult | IndexFailure], None] | None = None,
        on_passages: Callable[[int], None] | None = None,
    ) -> list[IndexResult | IndexFailure]:
        """Index files, directories and web addresses (http/https); a bad one is reported and the
        rest continue. Nothing already indexed is touched by a failure.

        Files stream through the store in shared batches (many small files cost one MiniLM call
        per batch, not one per file), so a result may be reported a few files after it was read.
        """
        store = self.store(collection)
        results: list[IndexResult | IndexFailure] = []

        def report(outcome: IndexResult | IndexFailure) -> None:
            results.append(outcome)
            if on_result:
                on_result(outcome)

        def loaded() -> Iterator[LoadedDocument]:
            for item in paths:
                if is_url(str(item)):
                    try:
                        yield self.fetch(str(item))
                    except DocumentError as exc:
                        report(IndexFailure(str(item), str(exc)))
                    continue
                for path in iter_document_paths([Path(item)]):
                    try:
                        yield load_document(path)
                    except DocumentError as exc:
                        report(IndexFailure(str(path), str(exc)))

        for result in store.index_documents(loaded(), on_passages):
            report(result)
        return results

    def sources(self, collection: str | None = None) -> list[SourceInfo]:
        return self.store(collection).sources()

    def source_infos(self, sources: Iterable[str], collection: str | None = None) -> dict[str, SourceInfo]:
        """Titles and addresses of the named documents (e.g. those an answer cites)."""
        return self.store(collection).source_infos(sources)

    def remove(self, source: str, collection: str | None = None) -> int:
        return self.store(collection).remove_source(source)

    def retriever(self, collection: str | None = None) -> HybridRetriever:
        """The hybrid (dense + BM25) retriever of a collection."""
        s = self.settings
        return HybridRetriever(
            store=self.store(collection),
            keyword_cache=self._keyword_cache,
            k=s.k,
            fetch_k=s.fetch_k,
            rrf_k=s.rrf_k,
            dense_weight=s.dense_weight,
            bm25_weight=s.bm25_weight,
        )

    def answerer(self, store: PassageStore) -> Answerer:
        """The configured offline answerer over a store's sentence vectors: the learned reader
        (default), or the first stage alone (``answerer = "extractive"``)."""
        s = self.settings
        if s.answerer == "extractive":
            return ExtractiveAnswerer(
                store.vectors_of, self.sentence_weights, refusal_model(s), s.max_answer_sentences, s.second_quote_ratio
            )
        reader, model = self.reader()
        return ReaderAnswerer(
            store.vectors_of, self.sentence_weights, reader, model, s.max_answer_sentences, s.second_quote_ratio
        )

    def reader(self) -> tuple[SentenceReader, AnswererModel]:
        """The learned reader and its fitted answer model, loaded once for every collection."""
        with self._lock:
            if self._reader is None:
                from bot.answering.reader import SentenceReader

                model = AnswererModel.load()
                reader = SentenceReader.load(self.settings.resolved_model_path(), quantize=model.quantized)
                self._reader = (reader, model)
            return self._reader

    def answer_chain(self, collection: str | None = None) -> Runnable[Any, Answer]:
        """The retrieval → answer → verify chain of a collection."""
        name = collection or self.settings.collection
        with self._lock:
            if name not in self._chains:
                s = self.settings
                answerer = self.answerer(self.store(name))
                if self.chat_model is not None:
                    from bot.llm.chain import build_llm_answer_chain

                    self._chains[name] = build_llm_answer_chain(
                        self.retriever(name), answerer, self.store(name).document_text, s, self.chat_model, self.pool
                    )
                else:
                    self._chains[name] = build_answer_chain(
                        self.retriever(name),
                        answerer,
                        self.store(name).document_text,
                        s.max_question_chars,
                        s.history_turns,
                    )
            return self._chains[name]

    def ask(self, question: str, collection: str | None = None, history: tuple[Turn, ...] = ()) -> Answer:
        """Answer a question (the collection gets the seed story if it is empty)."""
        self.ensure_corpus(collection)
        return self.answer_chain(collection).invoke(AnswerRequest(question, history))

    async def aask(self, question: str, collection: str | None = None, history: tuple[Turn, ...] = ()) -> Answer:
        """``ask`` for async callers: the blocking work runs in the service's pool."""
        chain = await self.run_blocking(self._ready_chain, collection)
        if self.chat_model is None:
            return await self.run_blocking(chain.invoke, AnswerRequest(question, history))
        return await chain.ainvoke(AnswerRequest(question, history))

    async def astream_answer(
        self, question: str, collection: str | None = None, history: tuple[Turn, ...] = ()
    ) -> AsyncIterator[str | Answer]:
        """Answer previews (``str``: the whole text so far, replacing the previous one), then the
        final verified :class:`Answer`. Without a chat model, only the Answer comes.

        Raises :class:`bot.errors.QuestionError` for an empty or over-long question, like ``aask``.
        """
        from bot.llm.chain import LLMAnswerChain

        chain = await self.run_blocking(self._ready_chain, collection)
        if not isinstance(chain, LLMAnswerChain):
            yield await self.run_blocking(chain.invoke, AnswerRequest(question, history))
            return
        async for item in chain.astream_answer(AnswerRequest(question, history)):
            yield item

    def _ready_chain(self, collection: str | None) -> Runnable[Any, Answer]:
        """The answer chain of a collection, with the seed story indexed if it is empty."""
        self.ensure_corpus(collection)
        return self.answer_chain(collection)

    def summarize(self, mode: str, collection: str | None = None) -> Summary:
        """A cited summary of every document of a collection (the seed story if it is empty)."""
        from bot.summaries.summarize import SummaryError, SummaryOptions, check_mode, summarize_documents

        mode = check_mode(mode)  # before touching the store: a typo should not load the model
        store = self.ensure_corpus(collection)
        documents = [
            LoadedDocument(info.source, text)
            for info in store.sources()
            if (text := store.document_text(info.source)) is not None
        ]
        if not documents:
            raise SummaryError("This collection has no documents to summarize.")
        options = SummaryOptions(tldr_sentences=self.settings.summary_sentences)
        return self._rewritten(summarize_documents(documents, mode, options), store.document_text)

    def summarize_document(self, document: LoadedDocument, mode: str) -> Summary:
        """A cited summary of one document on its own, without indexing it."""
        from bot.summaries.summarize import SummaryOptions, summarize_document

        summary = summarize_document(document, mode, SummaryOptions(tldr_sentences=self.settings.summary_sentences))
        return self._rewritten(summary, lambda source: document.text if source == document.source else None)

    def _rewritten(self, summary: Summary, document_text: Callable[[str], str | None]) -> Summary:
        """With a language model configured, prose summaries (tl;dr, key points) are rewritten by
        it; its lines are verified against the sources like answers, and any failure keeps the
        extractive summary. Timelines, who's who and quotes stay extractive: their lines are
        already the source's own words in a fixed shape."""
        if self.chat_model is None or summary.mode not in {"tldr", "key-points"}:
            return summary
        from bot.summaries.rewrite import rewrite_summary

        return rewrite_summary(summary, self.chat_model, self.settings.llm_timeout, document_text).summary
