"""The passage store: passages with vectors in Chroma (through langchain-chroma), plus each
document's full text so every citation can be checked against its source.

The same code runs on the embedded store and on a Chroma server (``chroma run``). With a server,
a failed connection in any operation becomes a :class:`StoreError` that names the server, and
nothing about the failure is remembered: the next operation simply tries again, so a server that
comes back is used without restarting story-bot.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from index.chunking import Passage, Sentence, chunk_document, decode_spans, encode_spans, passage_sentences
from index.embeddings import MiniLMEmbeddings, force_offline
from index.errors import StoreError
from index.loaders import LoadedDocument

if TYPE_CHECKING:
    import numpy as np
    from chromadb.api import ClientAPI
    from chromadb.config import Settings as ChromaSettings
    from langchain_chroma import Chroma

_COLLECTION_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_-]{1,61})[A-Za-z0-9]$")
_DOCUMENTS_SUFFIX = ".documents"
_SENTENCES_SUFFIX = ".sentences"
_REVISION_KEY = "storybot_revision"
# A Chroma server refuses requests over 40 MiB; a document's text is stored in parts of at most
# this many characters (at most 24 MiB of JSON even if every character needed a \u escape).
_PART_CHARS = 4 * 2**20
# Extra parts are records named "<source>/part-<n>": "/" never occurs in a document (file) name.
_PART_MARK = "/part-"
_IDS_PER_CALL = 2000  # below Chroma's maximum batch size (5461)

logger = logging.getLogger("storybot.index")

_P = ParamSpec("_P")
_R = TypeVar("_R")


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """One indexed document: its name, passage count and length, and for a web page its title and URL."""

    source: str
    passages: int
    chars: int
    title: str | None = None
    url: str | None = None

    @property
    def label(self) -> str:
        """What people see: a page's title, or the file name."""
        return self.title or self.source


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


@dataclass(frozen=True, slots=True)
class _Pending:
    """A document waiting in an ingestion group, already cut into passages."""

    document: LoadedDocument
    passages: list[Passage]


def validate_collection_name(name: str) -> str:
    """Chroma's naming rules, checked up front so the user gets a readable message."""
    if not _COLLECTION_NAME.match(name):
        raise StoreError(
            f"Invalid collection name {name!r}: use 3-63 letters, digits, '-' or '_', "
            "starting and ending with a letter or digit."
        )
    return name


# --- clients -------------------------------------------------------------------------------------

_CLIENTS: dict[str, ClientAPI] = {}
_CLIENTS_LOCK = threading.Lock()


def open_client(data_dir: Path, chroma_url: str = "", timeout: float = 3.0) -> ClientAPI:
    """One Chroma client per path (or server URL) per process, as Chroma requires.

    An unreachable server is reported within about ``timeout`` seconds and not remembered, so the
    next call tries again. The shared server client takes the latest ``timeout`` asked for.
    """
    force_offline()
    key = chroma_url or str(data_dir.resolve())
    with _CLIENTS_LOCK:
        if key not in _CLIENTS:
            _CLIENTS[key] = _new_client(data_dir, chroma_url, timeout)
        elif chroma_url:
            _limit_http_timeout(_CLIENTS[key], timeout)
        return _CLIENTS[key]


def _new_client(data_dir: Path, chroma_url: str, timeout: float) -> ClientAPI:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if chroma_url:
        return _new_http_client(chroma_url, timeout, chroma_settings)
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(data_dir / "chroma"), settings=chroma_settings)
    except OSError as exc:
        raise StoreError(
            f"Cannot use the data directory (STORYBOT_DATA_DIR): {exc.strerror}.", detail=f"{data_dir}: {exc}"
        ) from None


def _server_address(chroma_url: str) -> tuple[str, int, bool]:
    """(host, port, ssl) of ``http(s)://host[:port]``; a malformed URL is a clear error."""
    from urllib.parse import urlparse

    url = urlparse(chroma_url)
    try:
        port = url.port
    except ValueError:
        port = -1
    if url.scheme not in {"http", "https"} or not url.hostname or port == -1:
        raise StoreError(
            "STORYBOT_CHROMA_URL is not a valid address: expected http://host:port.", detail=f"got {chroma_url!r}"
        )
    ssl = url.scheme == "https"
    return url.hostname, port or (443 if ssl else 8000), ssl


def _base_url(host: str, port: int, ssl: bool) -> str:
    return f"{'https' if ssl else 'http'}://{host}:{port}"


def _new_http_client(chroma_url: str, timeout: float, chroma_settings: ChromaSettings) -> ClientAPI:
    import chromadb

    host, port, ssl = _server_address(chroma_url)
    base = _base_url(host, port, ssl)
    _check_heartbeat(base, timeout)
    try:
        client = chromadb.HttpClient(host=host, port=port, ssl=ssl, settings=chroma_settings)
    except Exception as exc:  # chromadb turns a refused connection into ValueError, among others
        raise _unreachable(base, exc) from exc
    _limit_http_timeout(client, timeout)
    return client


def _check_heartbeat(base_url: str, timeout: float) -> None:
    """Ask the server for a heartbeat first: chromadb's own first requests wait without a limit."""
    import httpx

    try:
        response = httpx.get(f"{base_url}/api/v2/heartbeat", timeout=timeout)
    except httpx.HTTPError as exc:
        raise _unreachable(base_url, exc) from exc
    if response.status_code != 200:
        raise StoreError(
            f"The server at STORYBOT_CHROMA_URL answered HTTP {response.status_code} to a heartbeat: "
            "is it a Chroma server (`chroma run`)?",
            detail=f"{base_url}/api/v2/heartbeat answered HTTP {response.status_code}",
        )


def _limit_http_timeout(client: ClientAPI, timeout: float) -> None:
    """chromadb's HTTP client waits forever by default; an unreachable server must fail fast.

    Connecting (and queueing for a pooled connection) is limited to ``timeout``; reading a reply
    gets at least 30 s, since a large query on a busy server can legitimately take seconds.
    """
    import httpx

    session = getattr(getattr(client, "_server", None), "_session", None)
    if isinstance(session, httpx.Client):
        session.timeout = httpx.Timeout(timeout, read=max(timeout, 30.0))


def _unreachable(url: str, exc: BaseException) -> StoreError:
    """The user-facing error for a Chroma server that cannot be reached."""
    import httpx

    reason = "no answer in time" if isinstance(exc, httpx.TimeoutException) else "connection failed"
    return StoreError(
        f"Cannot reach the Chroma server ({reason}). Start it (`chroma run --path DIR --port PORT`) "
        "or unset STORYBOT_CHROMA_URL to use the embedded store.",
        detail=f"{url}: {type(exc).__name__}: {exc}",
    )


def _is_connection_error(exc: BaseException) -> bool:
    import httpx

    return isinstance(exc, httpx.TransportError)


def _server_url(client: ClientAPI) -> str:
    """The server a client talks to, for error messages ("" for the embedded store)."""
    settings = client.get_settings()
    if not settings.chroma_server_host:
        return ""
    port = int(settings.chroma_server_http_port or 8000)
    return _base_url(settings.chroma_server_host, port, bool(settings.chroma_server_ssl_enabled))


def _reports_unreachable(
    method: Callable[Concatenate[PassageStore, _P], _R],
) -> Callable[Concatenate[PassageStore, _P], _R]:
    """Decorate a store method so a lost server connection surfaces as a :class:`StoreError`."""

    @functools.wraps(method)
    def wrapper(self: PassageStore, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        with self._reachable():
            return method(self, *args, **kwargs)

    return wrapper


# --- helpers -------------------------------------------------------------------------------------


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode(errors="surrogatepass")).hexdigest()


def _batches(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _part_id(source: str, part: int) -> str:
    return f"{source}{_PART_MARK}{part}"


def _parts(text: str) -> list[str]:
    """A document's text in parts small enough for one Chroma request each."""
    return [text[i : i + _PART_CHARS] for i in range(0, len(text), _PART_CHARS)] or [""]


def _placeholder_vector(key: str, dimension: int) -> np.ndarray[Any, Any]:
    """The vector of a document record, which is only ever read by id (Chroma needs one per record).

    A pseudo-random unit vector seeded by the text's hash costs nothing; embedding the text would
    make MiniLM tokenize a whole document (seconds and gigabytes for a 50 MB file) to no purpose.
    """
    import numpy as np

    vector = np.random.default_rng(int(key[:16], 16)).standard_normal(dimension)
    return (vector / np.linalg.norm(vector)).astype(np.float32)


# --- the store -----------------------------------------------------------------------------------


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
        self.server_url = _server_url(client)
        self._client = client
        self._lock = threading.Lock()
        function: Any = StoryBotEmbeddingFunction(embeddings, model_path)
        cosine: Any = {"hnsw": {"space": "cosine"}}
        with self._reachable():
            self._passages = client.get_or_create_collection(name, embedding_function=function, configuration=cosine)
            self._documents = client.get_or_create_collection(
                name + _DOCUMENTS_SUFFIX, embedding_function=function, configuration=cosine
            )
            self._sentences = client.get_or_create_collection(
                name + _SENTENCES_SUFFIX, embedding_function=function, configuration=cosine
            )
            self.vectors: Chroma = Chroma(
                client=client,
                collection_name=name,
                embedding_function=embeddings,
                create_collection_if_not_exists=False,
            )

    @functools.cached_property
    def _dimension(self) -> int:
        return self.embeddings.dimension

    @contextmanager
    def _reachable(self) -> Iterator[None]:
        """Turn a failed connection to the Chroma server into a StoreError that names the server."""
        try:
            yield
        except Exception as exc:
            if self.server_url and _is_connection_error(exc):
                raise _unreachable(self.server_url, exc) from exc
            raise

    # --- writing ---------------------------------------------------------------------------

    def index_document(
        self,
        document: LoadedDocument,
        progress: Callable[[int], None] | None = None,
        planned: Callable[[int], None] | None = None,
    ) -> IndexResult:
        """Add or update one document. Idempotent, and safe to re-run after a crash."""
        [result] = list(self.index_documents([document], progress, planned))
        return result

    def index_documents(
        self,
        documents: Iterable[LoadedDocument],
        progress: Callable[[int], None] | None = None,
        planned: Callable[[int], None] | None = None,
    ) -> Iterator[IndexResult]:
        """Add or update documents as they stream in. Idempotent, and safe to re-run after a crash.

        Small documents share batches, so MiniLM and Chroma see ``batch_passages`` passages per
        call whatever the document sizes, and memory holds one group of documents and one batch of
        embeddings at a time. ``planned`` is called with the number of passages a group is about
        to write (unchanged passages are not rewritten), and ``progress`` with the size of each
        batch written, so a caller can show "40/120 passages". Every sentence is embedded and
        stored too, so answering embeds only the question; each batch's sentences are written just
        before its passages, so progress moves evenly. Within a group, new sentences and passages
        are written before stale ones are deleted and the document records last, so an interrupted
        run leaves nothing that a re-run does not put right.
        """
        for group in self._groups(documents):
            with self._reachable():
                results = self._index_group(group, progress, planned)
            yield from results

    def _groups(self, documents: Iterable[LoadedDocument]) -> Iterator[list[_Pending]]:
        """Documents with their passages, grouped until the group fills at least one batch.

        A name already in the group closes it first: the later version must replace the earlier
        one, which needs the earlier one written.
        """
        group: list[_Pending] = []
        size = 0
        for document in documents:
            if any(item.document.source == document.source for item in group):
                yield group
                group, size = [], 0
            passages = chunk_document(document.source, document.text, self.chunk_chars, self.overlap_sentences)
            group.append(_Pending(document, passages))
            size += len(passages)
            if size >= self.batch_passages:
                yield group
                group, size = [], 0
        if group:
            yield group

    def _index_group(
        self,
        group: list[_Pending],
        progress: Callable[[int], None] | None,
        planned: Callable[[int], None] | None,
    ) -> list[IndexResult]:
        sources = [item.document.source for item in group]
        with self._lock:
            existing = self._existing_ids(self._passages, sources)
            records = self._records(sources)
            wanted = [p for item in group for p in item.passages if p.id not in existing[item.document.source]]
            if planned:
                planned(len(wanted))
            stale_sentences = self._write_new(group, sources, wanted, progress)
            results: list[IndexResult] = []
            stale: list[str] = []
            changed: list[_Pending] = []
            for item in group:
                had = existing[item.document.source]
                ids = {p.id for p in item.passages}
                gone = sorted(had - ids)
                stale.extend(gone)
                result = IndexResult(item.document.source, len(ids), len(ids - had), len(gone))
                results.append(result)
                record = records.get(item.document.source) or {}
                if not result.unchanged or _record_changed(record, item.document):
                    changed.append(item)
            for batch in _batches(stale, _IDS_PER_CALL):
                self._passages.delete(ids=batch)
            for batch in _batches(stale_sentences, _IDS_PER_CALL):
                self._sentences.delete(ids=batch)
            if changed:
                self._write_documents(changed, records)
                self._bump_revision()
        return results

    def _write_new(
        self,
        group: list[_Pending],
        sources: list[str],
        passages: list[Passage],
        progress: Callable[[int], None] | None,
    ) -> list[str]:
        """Embed and store the group's new passages in batches, each batch's sentences first, then
        any other sentence not stored yet (a document indexed by an older version gets them all
        here); returns the sentence ids that are no longer wanted."""
        stored = set().union(*self._existing_ids(self._sentences, sources).values())
        written = set(stored)
        for batch in _batches(passages, self.batch_passages):
            self._add_sentences([s for p in batch for s in passage_sentences(p)], written)
            self._add_passages(batch)
            if progress:
                progress(len(batch))
        wanted = {s.id: s for item in group for p in item.passages for s in passage_sentences(p)}
        self._add_sentences(list(wanted.values()), written)
        return sorted(stored - set(wanted))

    def _add_sentences(self, sentences: list[Sentence], written: set[str]) -> None:
        """Embed and write the sentences whose ids are not in ``written`` (which then holds them)."""
        missing = list({s.id: s for s in sentences if s.id not in written}.values())
        for batch in _batches(missing, self.batch_passages):
            vectors = self.embeddings.encode_uncached([s.text for s in batch])
            self._sentences.upsert(
                ids=[s.id for s in batch],
                documents=[s.text for s in batch],
                metadatas=[{"source": s.source, "start": s.start, "end": s.end} for s in batch],
                embeddings=vectors,
            )
            written.update(s.id for s in batch)

    @staticmethod
    def _existing_ids(collection: Any, sources: list[str]) -> dict[str, set[str]]:
        """The record ids already stored in a collection for each source, in one query."""
        where: Any = {"source": sources[0]} if len(sources) == 1 else {"source": {"$in": sources}}
        found = collection.get(where=where, include=["metadatas"])
        existing: dict[str, set[str]] = {source: set() for source in sources}
        for pid, meta in zip(found["ids"], found["metadatas"] or [], strict=True):
            existing.setdefault(str(meta["source"]), set()).add(pid)
        return existing

    def _records(self, sources: list[str]) -> dict[str, Mapping[str, Any]]:
        """The stored document records' metadata (hash, parts) by source."""
        found = self._documents.get(ids=sources, include=["metadatas"])
        return {pid: meta or {} for pid, meta in zip(found["ids"], found["metadatas"] or [], strict=True)}

    def _add_passages(self, batch: list[Passage]) -> None:
        """Embed and write one batch (upsert, so two indexers racing on a document cannot clash)."""
        vectors = self.embeddings.encode_uncached([p.text for p in batch])
        self._passages.upsert(
            ids=[p.id for p in batch],
            documents=[p.text for p in batch],
            metadatas=[
                {"source": p.source, "start": p.start, "end": p.end, "sentences": encode_spans(p.sentences)}
                for p in batch
            ],
            embeddings=vectors,
        )

    def _write_documents(self, items: list[_Pending], records: Mapping[str, Mapping[str, Any]]) -> None:
        """Document records: the extra parts of long texts first, then the main records, then
        whatever parts an earlier, longer version had beyond the new ones."""
        main: list[tuple[str, str, dict[str, Any]]] = []
        leftovers: list[str] = []
        for item in items:
            source, parts = item.document.source, _parts(item.document.text)
            for number, part in enumerate(parts[1:], start=1):
                self._upsert_records([(_part_id(source, number), part, {"part_of": source})])
            main.append((source, parts[0], self._record_metadata(item, len(parts))))
            had = int((records.get(source) or {}).get("parts", 1))
            leftovers.extend(_part_id(source, number) for number in range(len(parts), had))
        for batch in _by_size(main, _PART_CHARS):
            self._upsert_records(batch)
        if leftovers:
            self._documents.delete(ids=leftovers)

    @staticmethod
    def _record_metadata(item: _Pending, parts: int) -> dict[str, Any]:
        text = item.document.text
        meta: dict[str, Any] = {
            "source": item.document.source,
            "sha256": _sha(text),
            "passages": len(item.passages),
            "chars": len(text),
            "parts": parts,
        }
        if item.document.title:
            meta["title"] = item.document.title
        if item.document.url:
            meta["url"] = item.document.url
        return meta

    def _upsert_records(self, records: list[tuple[str, str, dict[str, Any]]]) -> None:
        import numpy as np

        vectors = [_placeholder_vector(_sha(rid + "\x00" + text), self._dimension) for rid, text, _ in records]
        self._documents.upsert(
            ids=[rid for rid, _, _ in records],
            documents=[text for _, text, _ in records],
            metadatas=[meta for _, _, meta in records],
            embeddings=np.stack(vectors),
        )

    @_reports_unreachable
    def remove_source(self, source: str) -> int:
        """Delete a document and all its passages; returns how many passages went."""
        with self._lock:
            ids = self._passage_ids(source)
            record = self._records([source]).get(source)
            if not ids and record is None:
                return 0
            for batch in _batches(ids, _IDS_PER_CALL):
                self._passages.delete(ids=batch)
            sentence_ids = self._existing_ids(self._sentences, [source])[source]
            for batch in _batches(sorted(sentence_ids), _IDS_PER_CALL):
                self._sentences.delete(ids=batch)
            parts = int((record or {}).get("parts", 1))
            self._documents.delete(ids=[source, *(_part_id(source, n) for n in range(1, parts))])
            self._bump_revision()
        return len(ids)

    def _bump_revision(self) -> None:
        self._documents.modify(metadata={_REVISION_KEY: uuid.uuid4().hex})

    # --- reading ---------------------------------------------------------------------------

    def _passage_ids(self, source: str) -> list[str]:
        return list(self._passages.get(where={"source": source}, include=[])["ids"])

    @_reports_unreachable
    def revision(self) -> str:
        """Changes whenever any process adds or removes something in this collection."""
        fresh = self._client.get_collection(self.name + _DOCUMENTS_SUFFIX, embedding_function=None)
        return str((fresh.metadata or {}).get(_REVISION_KEY, "")) + f":{self._passages.count()}"

    @_reports_unreachable
    def count(self) -> int:
        return self._passages.count()

    @_reports_unreachable
    def is_empty(self) -> bool:
        return self._documents.count() == 0

    @_reports_unreachable
    def sources(self) -> list[SourceInfo]:
        """Every indexed document, by name (lengths come from metadata, not from the texts)."""
        records = self._documents.get(include=["metadatas"])
        metas: list[dict[str, Any]] = [dict(meta or {}) for meta in records["metadatas"] or []]
        documents = [meta for meta in metas if "source" in meta]  # extra parts carry "part_of" instead
        unmeasured = [str(meta["source"]) for meta in documents if "chars" not in meta]
        lengths = self._lengths(unmeasured) if unmeasured else {}
        infos = [_source_info(meta, lengths.get(str(meta["source"]), 0)) for meta in documents]
        return sorted(infos, key=lambda info: info.source.lower())

    @_reports_unreachable
    def source_infos(self, sources: Iterable[str]) -> dict[str, SourceInfo]:
        """The named documents' titles, addresses and sizes, in one query (unknown names are
        absent): what a citation shows without listing the whole collection."""
        names = list(dict.fromkeys(sources))
        if not names:
            return {}
        records = self._records(names)
        return {name: _source_info(meta) for name, meta in records.items() if "source" in meta}

    def _lengths(self, sources: list[str]) -> dict[str, int]:
        """Text lengths of records written before "chars" was kept in their metadata."""
        found = self._documents.get(ids=sources, include=["documents"])
        return {pid: len(text or "") for pid, text in zip(found["ids"], found["documents"] or [], strict=True)}

    @_reports_unreachable
    def document_text(self, source: str) -> str | None:
        """The full text a document was indexed with (the text all offsets refer to)."""
        found = self._documents.get(ids=[source], include=["documents", "metadatas"])
        if not found["ids"]:
            return None
        text = (found["documents"] or [""])[0] or ""
        meta: dict[str, Any] = dict((found["metadatas"] or [{}])[0] or {})
        parts = int(meta.get("parts", 1))
        if parts <= 1:
            return text
        ids = [_part_id(source, n) for n in range(1, parts)]
        rest = self._documents.get(ids=ids, include=["documents"])
        by_id = dict(zip(rest["ids"], rest["documents"] or [], strict=True))
        if len(by_id) < len(ids):
            return None  # a part is missing (an interrupted write): nothing can be verified against it
        return text + "".join(by_id[pid] or "" for pid in ids)

    @_reports_unreachable
    def all_passages(self) -> list[Passage]:
        """Every passage, for the keyword index (read in pages to bound memory spikes)."""
        out: list[Passage] = []
        total = self._passages.count()
        for offset in range(0, total, 5000):
            page = self._passages.get(include=["documents", "metadatas"], limit=5000, offset=offset)
            out.extend(_to_passages(page["ids"], page["documents"] or [], page["metadatas"] or []))
        return out

    @_reports_unreachable
    def sentence_vectors(self, ids: list[str]) -> dict[str, np.ndarray[Any, Any]]:
        """The stored vectors of sentences by id (ids not stored are simply absent)."""
        import numpy as np

        if not ids:
            return {}
        try:
            found = self._sentences.get(ids=ids, include=["embeddings"])
        except Exception as exc:
            if self.server_url and _is_connection_error(exc):
                raise
            # Another process may be rewriting these records right now (embedded Chroma reports
            # "Error finding id"); the caller embeds what is missing, so the answer still comes.
            logger.debug("sentence vectors unavailable, embedding instead: %s", exc)
            return {}
        vectors = found["embeddings"]
        if vectors is None:
            return {}
        return {sid: np.asarray(v, dtype=np.float32) for sid, v in zip(found["ids"], vectors, strict=True)}

    def vectors_of(self, sentences: Sequence[Sentence]) -> np.ndarray[Any, Any]:
        """Unit vectors of sentences in order: stored ones, and any the index lacks (written by an
        older version, or mid-update) embedded now."""
        import numpy as np

        if not sentences:
            return np.zeros((0, self._dimension), np.float32)
        found = self.sentence_vectors(list(dict.fromkeys(s.id for s in sentences)))
        missing = list({s.id: s for s in sentences if s.id not in found}.values())
        if missing:
            found.update(zip([s.id for s in missing], self.embeddings.encode([s.text for s in missing]), strict=True))
        return np.stack([found[s.id] for s in sentences]).astype(np.float32)

    @_reports_unreachable
    def sentence_ids(self) -> set[str]:
        """The ids of every stored sentence vector (for checks that the index is complete)."""
        total = self._sentences.count()
        ids: set[str] = set()
        for offset in range(0, total, 5000):
            ids.update(self._sentences.get(include=[], limit=5000, offset=offset)["ids"])
        return ids

    @_reports_unreachable
    def dense_search(self, query_vector: list[float], k: int) -> list[ScoredPassage]:
        """Nearest passages by cosine similarity."""
        k = min(k, self._passages.count())
        if k <= 0:
            return []
        hits = self.vectors.similarity_search_by_vector_with_relevance_scores(query_vector, k=k)
        return [
            ScoredPassage(_document_to_passage(doc.id or "", doc.page_content, doc.metadata), 1.0 - distance)
            for doc, distance in hits
        ]


def _source_info(meta: Mapping[str, Any], measured: int = 0) -> SourceInfo:
    """A document record's metadata as a :class:`SourceInfo` (``measured``: its text's length,
    for records written before "chars" was kept)."""
    return SourceInfo(
        str(meta["source"]),
        int(meta.get("passages", 0)),
        int(meta["chars"]) if "chars" in meta else measured,
        str(meta["title"]) if meta.get("title") else None,
        str(meta["url"]) if meta.get("url") else None,
    )


def _record_changed(record: Mapping[str, Any], document: LoadedDocument) -> bool:
    """Whether a document record must be rewritten: new text, or a new title or URL."""
    return (
        record.get("sha256") != _sha(document.text)
        or record.get("title") != (document.title or None)
        or record.get("url") != (document.url or None)
    )


def _by_size(records: list[tuple[str, str, dict[str, Any]]], limit: int) -> Iterator[list[tuple[str, str, Any]]]:
    """Records in batches of at most ``limit`` characters of text (a single larger one alone)."""
    batch: list[tuple[str, str, Any]] = []
    size = 0
    for record in records:
        if batch and size + len(record[1]) > limit:
            yield batch
            batch, size = [], 0
        batch.append(record)
        size += len(record[1])
    if batch:
        yield batch


def _document_to_passage(pid: str, text: str, meta: dict[str, Any] | Any) -> Passage:
    return Passage(
        pid, str(meta["source"]), int(meta["start"]), int(meta["end"]), text, decode_spans(meta.get("sentences"))
    )


def _to_passages(ids: Iterable[str], texts: Iterable[str], metas: Iterable[Any]) -> Iterator[Passage]:
    for pid, text, meta in zip(ids, texts, metas, strict=True):
        yield _document_to_passage(pid, text, meta)
