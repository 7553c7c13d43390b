"""SQuAD 1.1 dev: story-bot's first citation vs. a vanilla LangChain + Chroma pipeline.

    python -m bench.squad_bench [--questions 2000] [--all]

All 48 dev articles go into one collection for each pipeline, with the same MiniLM embeddings.
Vanilla: RecursiveCharacterTextSplitter(1000, 200), top-4 similarity search, and as its answer
the sentence of the top chunk closest to the question. Reported: the share of questions whose
first quote holds a gold answer, for all sampled questions and for those of the held-out half of
the articles (never seen by ``bench.calibrate``), and answer latency.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.squad_data import SQUAD_V1, Article, Question, contains_gold, load_squad, sample_questions, split_articles
from bot.answering.evaluation import percentile
from bot.service import StoryService
from config import load_settings
from index.chunking import split_sentences
from index.retriever import KeywordIndex
from index.text import tokenize


@dataclass
class Tally:
    """Hits per question for one method, plus per-question latency."""

    hits: list[bool] = field(default_factory=list)
    latency_ms: list[float] = field(default_factory=list)

    def rate(self, mask: list[bool] | None = None) -> float:
        chosen = [h for h, m in zip(self.hits, mask or [True] * len(self.hits), strict=True) if m]
        return sum(chosen) / max(len(chosen), 1)

    def p(self, q: float) -> float:
        return percentile(self.latency_ms, q)


class VanillaPipeline:
    """The textbook LangChain RAG pipeline, as the issue defines it."""

    def __init__(self, service: StoryService, articles: list[Article]) -> None:
        from langchain_chroma import Chroma
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        from index.store import open_client

        splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
        self.embeddings = service.embeddings
        client = open_client(service.settings.resolved_data_dir())
        self.vectors = Chroma(
            client=client,
            collection_name="vanilla",
            embedding_function=self.embeddings,
            collection_configuration={"hnsw": {"space": "cosine"}},
        )
        chunks = [chunk for a in articles for chunk in splitter.split_text(a.document().text)]
        if self.vectors._collection.count() != len(chunks):
            ids = [f"v{i}" for i in range(len(chunks))]
            for start in range(0, len(chunks), 256):
                self.vectors.add_texts(chunks[start : start + 256], ids=ids[start : start + 256])
        self.chunks = chunks
        self.bm25 = KeywordIndex([_as_passage(i, c) for i, c in enumerate(chunks)])

    def answer(self, question: str) -> tuple[str, str]:
        """(top chunk, best sentence of the top chunk)."""
        top = self.vectors.similarity_search(question, k=4)[0].page_content
        sentences = [top[s.start : s.end] for s in split_sentences(top)] or [top]
        vectors = self.embeddings.encode_uncached(sentences)
        query = np.asarray(self.embeddings.embed_query(question))
        return top, sentences[int(np.argmax(vectors @ query))]

    def bm25_top(self, question: str) -> str:
        hits = self.bm25.search(tokenize(question), 1)
        return hits[0][0].text if hits else ""


def _as_passage(i: int, text: str) -> Any:
    from index.chunking import Passage

    return Passage(f"c{i}", "chunk", 0, len(text), text)


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    value = fn()
    return value, (time.perf_counter() - started) * 1000


def run(service: StoryService, articles: list[Article], questions: list[Question], held_out: set[str]) -> None:
    store = service.store()
    for article in articles:
        store.index_document(article.document())
    vanilla = VanillaPipeline(service, articles)
    chain = service.answer_chain()
    retriever = service.retriever()
    names = (
        "story-bot first quote",
        "story-bot top passage",
        "vanilla sentence",
        "vanilla top chunk",
        "BM25 top chunk",
    )
    tallies = {name: Tally() for name in names}
    chain.invoke("warm up")
    for q in questions:
        answer, ours_ms = timed(lambda q=q: chain.invoke(q.question))
        quote = (
            answer.citations[0].passage if answer.citations else (answer.related[0].passage if answer.related else "")
        )
        tallies[names[0]].hits.append(contains_gold(quote, q.answers))
        tallies[names[0]].latency_ms.append(ours_ms)
        fused = retriever.retrieve(q.question).passages
        tallies[names[1]].hits.append(bool(fused) and contains_gold(fused[0].passage.text, q.answers))
        (chunk, sentence), vanilla_ms = timed(lambda q=q: vanilla.answer(q.question))
        tallies[names[2]].hits.append(contains_gold(sentence, q.answers))
        tallies[names[2]].latency_ms.append(vanilla_ms)
        tallies[names[3]].hits.append(contains_gold(chunk, q.answers))
        tallies[names[4]].hits.append(contains_gold(vanilla.bm25_top(q.question), q.answers))
    mask = [q.article in held_out for q in questions]
    print(
        f"\nSQuAD 1.1 dev, {len(articles)} articles in one collection; {len(questions)} questions "
        f"({sum(mask)} from held-out articles)"
    )
    print(f"{'method':<24} {'holds answer':>12} {'held-out':>9} {'p50 ms':>8} {'p95 ms':>8}")
    for name, tally in tallies.items():
        latency = f"{tally.p(0.5):>8.1f} {tally.p(0.95):>8.1f}" if tally.latency_ms else f"{'':>8} {'':>8}"
        print(f"{name:<24} {tally.rate():>12.1%} {tally.rate(mask):>9.1%} {latency}")


def seed_story_latency(service: StoryService, repeats: int = 20) -> None:
    """Warm answer latency on the bundled story, over a fixed set of question shapes."""
    questions = [
        "When will Petro meet Trump?",
        "What did Trump call the conversation?",
        "How long did the call last?",
        "Who did Petro dare to come and get him?",
        "What is the GDP of Colombia?",
        "Where will they meet?",
    ]
    service.ask(questions[0], "seed")
    times = [timed(lambda q=q: service.ask(q, "seed"))[1] for _ in range(repeats) for q in questions]
    print(
        f"\nseed story, warm: {len(times)} answers, p50 {statistics.median(times):.1f} ms, "
        f"p95 {percentile(times, 0.95):.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--questions", type=int, default=2000)
    parser.add_argument("--all", action="store_true", help="every one of the 10,570 questions")
    parser.add_argument("--data-dir", default=os.path.join(tempfile.gettempdir(), "storybot-squad-bench"))
    args = parser.parse_args()
    service = StoryService(load_settings(data_dir=args.data_dir, collection="squad"))
    articles = load_squad(SQUAD_V1)
    _fit, held = split_articles(articles)
    questions = [q for a in articles for q in a.questions] if args.all else sample_questions(articles, args.questions)
    seed_story_latency(service)
    run(service, articles, questions, {a.title for a in held})


if __name__ == "__main__":
    main()
