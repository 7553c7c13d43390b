"""Hybrid retrieval: dense (MiniLM in Chroma) and BM25 candidates fused by reciprocal rank."""

from __future__ import annotations

import logging
import math
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import bm25s
import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from index.chunking import Passage
from index.store import PassageStore
from index.text import question_tokens, tokenize

# bm25s sets its own logger to DEBUG on import; its messages are not for our users.
logging.getLogger("bm25s").setLevel(logging.WARNING)


class KeywordIndex:
    """BM25 over passages, plus the term statistics lexical scoring needs (idf)."""

    def __init__(self, passages: list[Passage]) -> None:
        self.passages = passages
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
    """Keeps a collection's keyword index until the collection changes (in any process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[str, KeywordIndex]] = {}

    def get(self, store: PassageStore) -> KeywordIndex:
        revision = store.revision()
        with self._lock:
            entry = self._entries.get(store.name)
            if entry and entry[0] == revision:
                return entry[1]
        index = KeywordIndex(store.all_passages())
        with self._lock:
            self._entries[store.name] = (revision, index)
        return index


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
