"""Hybrid retrieval: dense (MiniLM in Chroma) and BM25 candidates fused by reciprocal rank."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import os
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bm25s
import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from index import text as text_module
from index.chunking import Passage, Span
from index.store import PassageStore
from index.text import question_tokens, tokenize

# bm25s sets its own logger to DEBUG on import; its messages are not for our users.
logging.getLogger("bm25s").setLevel(logging.WARNING)
logger = logging.getLogger(__name__)


class KeywordIndex:
    """BM25 over passages, plus the term statistics lexical scoring needs (idf)."""

    def __init__(self, passages: list[Passage], tokens: list[list[str]] | None = None) -> None:
        self.passages = passages
        if tokens is None:
            tokens = [tokenize(p.text) for p in passages]
        self._bm25 = bm25s.BM25()
        if passages:
            self._bm25.index(tokens, show_progress=False)
        frequencies: Counter[str] = Counter()
        for row in tokens:
            frequencies.update(set(row))
        n = max(len(passages), 1)
        self._idf = {term: math.log(1 + (n - df + 0.5) / (df + 0.5)) for term, df in frequencies.items()}
        self.unseen_idf = math.log(1 + (n + 0.5) / 0.5)

    def idf(self, term: str) -> float:
        """Inverse document frequency; a term the corpus never uses is the most informative."""
        return self._idf.get(term, self.unseen_idf)

    def knows(self, term: str) -> bool:
        return term in self._idf

    def search(self, query_tokens: list[str], k: int) -> list[tuple[Passage, float]]:
        """Top passages by BM25; passages with no query term at all are left out."""
        k = min(k, len(self.passages))
        if k <= 0 or not query_tokens:
            return []
        found, scores = self._bm25.retrieve([query_tokens], k=k, show_progress=False)
        return [(self.passages[int(i)], float(s)) for i, s in zip(found[0], scores[0], strict=True) if s > 0]


class KeywordIndexCache:
    """Keeps a collection's keyword index until the collection changes (in any process).

    With a ``directory``, the passages and their tokens are also kept on disk, keyed by the
    collection's revision: a fresh process (``storybot ask``) then skips reading every passage
    from Chroma and stemming it, which is most of its first answer on a large collection. The
    file is only a cache: unreadable, stale or from another tokenizer, it is rebuilt.
    """

    def __init__(self, directory: Path | None = None) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[str, KeywordIndex]] = {}
        self.directory = directory

    def get(self, store: PassageStore) -> KeywordIndex:
        revision = store.revision()
        with self._lock:
            entry = self._entries.get(store.name)
            if entry and entry[0] == revision:
                return entry[1]
        index = self._load(store.name, revision)
        if index is None:
            passages = store.all_passages()
            tokens = [tokenize(p.text) for p in passages]
            index = KeywordIndex(passages, tokens)
            self._save(store.name, revision, passages, tokens)
        with self._lock:
            self._entries[store.name] = (revision, index)
        return index

    def _path(self, name: str) -> Path | None:
        return None if self.directory is None else self.directory / f"{name}.json"

    def _load(self, name: str, revision: str) -> KeywordIndex | None:
        path = self._path(name)
        if path is None or not path.exists():
            return None
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            if raw.get("revision") != revision or raw.get("tokenizer") != tokenizer_fingerprint():
                return None
            passages = [passage_from_json(p) for p in raw["passages"]]
            return KeywordIndex(passages, [list(t) for t in raw["tokens"]])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            logger.debug("keyword cache %s unreadable, rebuilding: %s", path, exc)
            return None

    def _save(self, name: str, revision: str, passages: list[Passage], tokens: list[list[str]]) -> None:
        path = self._path(name)
        if path is None:
            return
        record = {
            "revision": revision,
            "tokenizer": tokenizer_fingerprint(),
            "passages": [passage_to_json(p) for p in passages],
            "tokens": tokens,
        }
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            partial.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
            os.replace(partial, path)  # readers see the old file or the new one, never half of one
        except OSError as exc:
            logger.debug("keyword cache %s not written: %s", path, exc)


def passage_to_json(passage: Passage) -> dict[str, Any]:
    return {
        "id": passage.id,
        "source": passage.source,
        "start": passage.start,
        "end": passage.end,
        "text": passage.text,
        "sentences": [[span.start, span.end] for span in passage.sentences],
    }


def passage_from_json(raw: dict[str, Any]) -> Passage:
    spans = tuple(Span(int(a), int(b)) for a, b in raw.get("sentences", ()))
    return Passage(str(raw["id"]), str(raw["source"]), int(raw["start"]), int(raw["end"]), str(raw["text"]), spans)


@functools.cache
def tokenizer_fingerprint() -> str:
    """Changes when the tokenizer's code does, so tokens cached by another version are not reused."""
    return hashlib.sha256(Path(text_module.__file__ or "").read_bytes()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class RetrievedPassage:
    """A fused hit with the evidence behind its rank."""

    passage: Passage
    score: float
    dense: float
    bm25: float


@dataclass(slots=True)
class Retrieval:
    """What the answerer needs besides the passages: the query vector and term statistics."""

    query: str
    query_vector: np.ndarray[Any, Any]
    passages: list[RetrievedPassage]
    keywords: KeywordIndex
    query_tokens: list[str] = field(default_factory=list)


def fuse(
    dense: list[tuple[Passage, float]],
    keyword: list[tuple[Passage, float]],
    rrf_k: int,
    dense_weight: float,
    bm25_weight: float,
) -> list[RetrievedPassage]:
    """Reciprocal rank fusion: robust to the two scores living on different scales."""
    scores: dict[str, float] = {}
    by_id: dict[str, Passage] = {}
    dense_of = {p.id: s for p, s in dense}
    bm25_of = {p.id: s for p, s in keyword}
    for weight, ranking in ((dense_weight, dense), (bm25_weight, keyword)):
        for rank, (passage, _) in enumerate(ranking):
            by_id[passage.id] = passage
            scores[passage.id] = scores.get(passage.id, 0.0) + weight / (rrf_k + rank + 1)
    order = sorted(scores, key=lambda pid: (-scores[pid], pid))
    return [RetrievedPassage(by_id[p], scores[p], dense_of.get(p, 0.0), bm25_of.get(p, 0.0)) for p in order]


class HybridRetriever(BaseRetriever):
    """LangChain retriever over a :class:`PassageStore`, fusing dense and BM25 rankings."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    store: PassageStore
    keyword_cache: KeywordIndexCache
    k: int = 6
    fetch_k: int = 30
    rrf_k: int = 60
    dense_weight: float = 1.0
    bm25_weight: float = 1.0

    def retrieve(self, query: str) -> Retrieval:
        """Fused top-k passages with the query's vector and tokens."""
        vector = self.store.embeddings.encode([query])[0]
        keywords = self.keyword_cache.get(self.store)
        tokens = question_tokens(query)
        dense = [(hit.passage, hit.similarity) for hit in self.store.dense_search(vector.tolist(), self.fetch_k)]
        keyword = keywords.search(tokens, self.fetch_k)
        fused = fuse(dense, keyword, self.rrf_k, self.dense_weight, self.bm25_weight)[: self.k]
        return Retrieval(query, vector, fused, keywords, tokens)

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return [to_document(hit) for hit in self.retrieve(query).passages]


def to_document(hit: RetrievedPassage) -> Document:
    """A LangChain document carrying the passage's offsets and scores."""
    p = hit.passage
    return Document(
        id=p.id,
        page_content=p.text,
        metadata={
            "source": p.source,
            "start": p.start,
            "end": p.end,
            "score": hit.score,
            "dense": hit.dense,
            "bm25": hit.bm25,
        },
    )
