"""The passage store: passages with vectors in Chroma (through langchain-chroma), plus each
document's full text so every citation can be checked against its source."""

from __future__ import annotations

import hashlib
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from index.chunking import Passage, chunk_document
from index.embeddings import MiniLMEmbeddings, force_offline
from index.errors import StoreError
from index.loaders import LoadedDocument

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from langchain_chroma import Chroma

_COLLECTION_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_-]{1,61})[A-Za-z0-9]$")
_DOCUMENTS_SUFFIX = ".documents"
_REVISION_KEY = "storybot_revision"


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """One indexed document: its name, passage count and length."""

    source: str
    passages: int
    chars: int


@dataclass(frozen=True, slots=True)
class IndexResult:
    """What indexing one document changed."""

    source: str
    passages: int
    added: int
    removed: int

    @property
    def unchanged(self) -> bool:
        return self.added == 0 and self.removed == 0


@dataclass(frozen=True, slots=True)
class ScoredPassage:
    """A passage with the cosine similarity of its embedding to the query."""

    passage: Passage
    similarity: float


def validate_collection_name(name: str) -> str:
    """Chroma's naming rules, checked up front so the user gets a readable message."""
    if not _COLLECTION_NAME.match(name):
        raise StoreError(
            f"Invalid collection name {name!r}: use 3-63 letters, digits, '-' or '_', "
            "starting and ending with a letter or digit."
        )
    return name


_CLIENTS: dict[str, ClientAPI] = {}
_CLIENTS_LOCK = threading.Lock()


def open_client(data_dir: Path, chroma_url: str = "", timeout: float = 3.0) -> ClientAPI:
    """One Chroma client per path (or server URL) per process, as Chroma requires."""
    force_offline()
    key = chroma_url or str(data_dir.resolve())
    with _CLIENTS_LOCK:
        if key not in _CLIENTS:
            _CLIENTS[key] = _new_client(data_dir, chroma_url, timeout)
        return _CLIENTS[key]


def _new_client(data_dir: Path, chroma_url: str, timeout: float) -> ClientAPI:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if chroma_url:
        from urllib.parse import urlparse

        url = urlparse(chroma_url)
        if not url.hostname:
            raise StoreError(f"Invalid STORYBOT_CHROMA_URL {chroma_url!r}: expected http://host:port.")
        try:
            client = chromadb.HttpClient(
                host=url.hostname,
                port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https",
                settings=chroma_settings,
            )
        except Exception as exc:  # chromadb raises several unrelated types when unreachable
            raise StoreError(f"Cannot reach the Chroma server at {chroma_url}: {exc}") from None
        _limit_http_timeout(client, timeout)
        return client
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(data_dir / "chroma"), settings=chroma_settings)
    except OSError as exc:
        raise StoreError(f"Cannot use the data directory {data_dir}: {exc.strerror}") from None


def _limit_http_timeout(client: ClientAPI, timeout: float) -> None:
    """chromadb's HTTP client waits forever by default; a hung server must fail fast instead."""
    import httpx

    session = getattr(getattr(client, "_server", None), "_session", None)
    if isinstance(session, httpx.Client):
        session.timeout = httpx.Timeout(timeout, read=max(timeout, 30.0))


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _batches(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class PassageStore:
    """The passages and documents of one named collection."""

    def __init__(
        self,
        client: ClientAPI,
        name: str,
        embeddings: MiniLMEmbeddings,
        model_path: str = "",
        chunk_chars: int = 800,
        overlap_sentences: int = 1,
        batch_passages: int = 256,
    ) -> None:
        from langchain_chroma import Chroma

        from index.chroma_embedding import StoryBotEmbeddingFunction

        self.name = validate_collection_name(name)
        self.embeddings = embeddings
        self.chunk_chars = chunk_chars
        self.overlap_sentences = overlap_sentences
        self.batch_passages = batch_passages
        self._client = client
        function: Any = StoryBotEmbeddingFunction(embeddings, model_path)
        cosine: Any = {"hnsw": {"space": "cosine"}}
        self._passages = client.get_or_create_collection(name, embedding_function=function, configuration=cosine)
        self._documents = client.get_or_create_collection(
            name + _DOCUMENTS_SUFFIX, embedding_function=function, configuration=cosine
        )
        self.vectors: Chroma = Chroma(
            client=client, collection_name=name, embedding_function=embeddings, create_collection_if_not_exists=False
        )
        self._lock = threading.Lock()

    # --- writing ---------------------------------------------------------------------------

    def index_document(self, document: LoadedDocument, progress: Callable[[int], None] | None = None) -> IndexResult:
        """Add or update one document. Idempotent, and safe to re-run after a crash.

        New passages are written before stale ones are deleted and the document record is written
        last, so an interrupted run leaves nothing that a re-run does not put right.
        """
        passages = chunk_document(document.source, document.text, self.chunk_chars, self.overlap_sentences)
        with self._lock:
            existing = set(self._passage_ids(document.source))
            wanted = [p for p in passages if p.id not in existing]
            stale = existing - {p.id for p in passages}
            for batch in _batches(wanted, self.batch_passages):
                self._add_passages(batch)
                if progress:
                    progress(len(batch))
            if stale:
                self._passages.delete(ids=sorted(stale))
            if wanted or stale or self.document_text(document.source) != document.text:
                self._write_document(document, len(passages))
                self._bump_revision()
        return IndexResult(document.source, len(passages), len(wanted), len(stale))

    def _add_passages(self, batch: list[Passage]) -> None:
        self.vectors.add_texts(
            texts=[p.text for p in batch],
            metadatas=[{"source": p.source, "start": p.start, "end": p.end} for p in batch],
            ids=[p.id for p in batch],
        )

    def _write_document(self, document: LoadedDocument, passage_count: int) -> None:
        self._documents.upsert(
            ids=[document.source],
            documents=[document.text],
            metadatas=[{"source": document.source, "sha256": _sha(document.text), "passages": passage_count}],
        )

    def remove_source(self, source: str) -> int:
        """Delete a document and all its passages; returns how many passages went."""
        with self._lock:
            ids = self._passage_ids(source)
            known = bool(self._documents.get(ids=[source], include=[])["ids"])
            if not ids and not known:
                return 0
            if ids:
                self._passages.delete(ids=ids)
            self._documents.delete(ids=[source])
            self._bump_revision()
        return len(ids)

    def _bump_revision(self) -> None:
        self._documents.modify(metadata={_REVISION_KEY: uuid.uuid4().hex})

    # --- reading ---------------------------------------------------------------------------

    def _passage_ids(self, source: str) -> list[str]:
        return list(self._passages.get(where={"source": source}, include=[])["ids"])

    def revision(self) -> str:
        """Changes whenever any process adds or removes something in this collection."""
        fresh = self._client.get_collection(self.name + _DOCUMENTS_SUFFIX, embedding_function=None)
        return str((fresh.metadata or {}).get(_REVISION_KEY, "")) + f":{self._passages.count()}"

    def count(self) -> int:
        return self._passages.count()

    def is_empty(self) -> bool:
        return self._documents.count() == 0

    def sources(self) -> list[SourceInfo]:
        """Every indexed document, by name."""
        records = self._documents.get(include=["metadatas", "documents"])
        infos = [
            SourceInfo(str(meta["source"]), int(meta["passages"]), len(text or ""))  # type: ignore[arg-type]
            for meta, text in zip(records["metadatas"] or [], records["documents"] or [], strict=True)
        ]
        return sorted(infos, key=lambda info: info.source.lower())

    def document_text(self, source: str) -> str | None:
        """The full text a document was indexed with (the text all offsets refer to)."""
        records = self._documents.get(ids=[source], include=["documents"])
        documents = records["documents"] or []
        return documents[0] if documents else None

    def all_passages(self) -> list[Passage]:
        """Every passage, for the keyword index (read in pages to bound memory spikes)."""
        out: list[Passage] = []
        total = self._passages.count()
        for offset in range(0, total, 5000):
            page = self._passages.get(include=["documents", "metadatas"], limit=5000, offset=offset)
            out.extend(_to_passages(page["ids"], page["documents"] or [], page["metadatas"] or []))
        return out

    def dense_search(self, query_vector: list[float], k: int) -> list[ScoredPassage]:
        """Nearest passages by cosine similarity."""
        k = min(k, self.count())
        if k <= 0:
            return []
        hits = self.vectors.similarity_search_by_vector_with_relevance_scores(query_vector, k=k)
        return [
            ScoredPassage(_document_to_passage(doc.id or "", doc.page_content, doc.metadata), 1.0 - distance)
            for doc, distance in hits
        ]


def _document_to_passage(pid: str, text: str, meta: dict[str, Any] | Any) -> Passage:
    return Passage(pid, str(meta["source"]), int(meta["start"]), int(meta["end"]), text)


def _to_passages(ids: Iterable[str], texts: Iterable[str], metas: Iterable[Any]) -> Iterator[Passage]:
    for pid, text, meta in zip(ids, texts, metas, strict=True):
        yield _document_to_passage(pid, text, meta)
