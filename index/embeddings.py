"""all-MiniLM-L6-v2 embeddings, loaded from a local path, behind LangChain's interface.

The model runs in plain torch (:mod:`index.encoder`): importing sentence-transformers (and the
scikit-learn it pulls in) took seconds of every command's start-up for nothing we use.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.embeddings import Embeddings

if TYPE_CHECKING:
    import numpy as np

# Nothing may reach a model hub or phone home: the machine is offline and must not hang.
OFFLINE_ENVIRONMENT = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "TOKENIZERS_PARALLELISM": "false",
    "TRANSFORMERS_VERBOSITY": "error",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TQDM_DISABLE": "1",
    # Spinning OpenMP workers turn a 10 ms query into 400 ms when another process holds a core
    # (measured on this 2-core machine); passive waiting costs nothing measurable when idle.
    "OMP_WAIT_POLICY": "PASSIVE",
}


def force_offline() -> None:
    """Set the offline environment before any Hugging Face or Chroma import reads it."""
    for key, value in OFFLINE_ENVIRONMENT.items():
        os.environ.setdefault(key, value)


class MiniLMEmbeddings(Embeddings):
    """Sentence embeddings from a local all-MiniLM-L6-v2 folder, L2-normalized.

    Embeddings of texts seen before come from an LRU cache: the extractive answerer embeds the
    sentences of retrieved passages on every question, and the same passages come back often.
    """

    def __init__(self, model_path: str, batch_size: int = 64, cache_size: int = 50000) -> None:
        force_offline()
        from index.encoder import MiniLMEncoder

        self._model = MiniLMEncoder.load(model_path, batch_size=batch_size)
        self.batch_size = batch_size
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray[Any, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str]) -> np.ndarray[Any, Any]:
        """Encode texts to a (n, 384) float32 matrix of unit vectors, using the cache."""
        import numpy as np

        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            vectors = self._model.encode(missing)
            with self._lock:
                for text, vector in zip(missing, vectors, strict=True):
                    self._remember(text, vector)
        with self._lock:
            rows = [self._cache.get(t) for t in texts]
        found = [row for row in rows if row is not None]
        if len(found) < len(rows):  # evicted under pressure: encode directly
            return self.encode_uncached(texts)
        return np.stack(found).astype(np.float32) if found else np.zeros((0, self.dimension), np.float32)

    def encode_uncached(self, texts: Sequence[str]) -> np.ndarray[Any, Any]:
        """Encode without touching the cache: bulk indexing would only evict useful entries."""
        import numpy as np

        return np.asarray(self._model.encode(list(texts)), dtype=np.float32)

    def _remember(self, text: str, vector: np.ndarray[Any, Any]) -> None:
        if self.cache_size <= 0:
            return
        self._cache[text] = vector
        self._cache.move_to_end(text)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    @property
    def dimension(self) -> int:
        return self._model.dimension

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [list(map(float, row)) for row in self.encode_uncached(texts)]

    def embed_query(self, text: str) -> list[float]:
        return [float(x) for x in self.encode([text])[0]]


_SHARED: dict[tuple[str, int, int], MiniLMEmbeddings] = {}
_SHARED_LOCK = threading.Lock()


def shared_embeddings(model_path: str, batch_size: int = 64, cache_size: int = 50000) -> MiniLMEmbeddings:
    """One model per process and path: loading MiniLM takes seconds and ~90 MB each time."""
    key = (model_path, batch_size, cache_size)
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = MiniLMEmbeddings(model_path, batch_size, cache_size)
        return _SHARED[key]
