"""SQuAD: story-bot's two offline answerers against a vanilla LangChain + Chroma pipeline and plain
BM25 — answers, refusals, short answers, latency and cold start, measured side by side in one run.

    python -m bench.squad_bench             # full run: about half an hour on 2 shared cores
    python -m bench.squad_bench --quick     # small samples and collections: does everything work?
    python -m bench.squad_bench --only v1 v2 --questions 500   # some sections, other sizes

Methods, all over the same MiniLM weights: story-bot with the learned reader (``answerer="reader"``);
story-bot as it answered before the reader ("today": ``answerer="extractive"``, the first-stage
sentence score and the old refusal model); vanilla: RecursiveCharacterTextSplitter(1000, 200),
Chroma top-4 similarity search, and the sentence of the top chunk closest to the question (or the
whole chunk); plain BM25 over the same chunks. Both story-bot answerers read one index.
"Held-out" questions come from the half of the SQuAD articles (``split_articles``, seed 13) that
no weight, reader or threshold was ever fitted on.

Sections (``--only``):
  v1       SQuAD 1.1 dev, all 48 articles in one collection: does the first quote hold a gold
           answer; warm latency per method; the reader's short answers on the held-out half
           (exact match and F1 after SQuAD normalization).
  v2       SQuAD 2.0 (cs224n dev), held-out articles, about half the questions unanswerable:
           answerable ones answered (and the first quote holding the answer), unanswerable ones
           refused; in one article-sized collection and in story-sized ones (the question's
           paragraph and its neighbours). Vanilla and BM25 never refuse.
  latency  warm latency on the bundled seed story, and at 400 and 800 documents (two SQuAD
           paragraphs each): vanilla retrieval alone (embed the question, top-4 search) against
           story-bot's whole answer.
  cold     a fresh `storybot ask` process against a fresh vanilla script (``bench/vanilla_cold.py``)
           on already indexed collections (median of 3 runs), and the time loading the reader takes.

Every timed question is new to the embedding caches, as a user's question would be. Indexes
persist in ``--data-dir``, so later runs skip indexing. Numbers, settings and the commit go to
``bench/out/squad_bench.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from langchain_core.embeddings import Embeddings

import bench.offline  # noqa: F401  (first: sets OMP_WAIT_POLICY before torch loads)
from bench.calibrate import article_collection, story_collection
from bench.fit_answerer import f1, normalize
from bench.squad_data import (
    SQUAD_V1,
    SQUAD_V2,
    Article,
    Question,
    contains_gold,
    load_squad,
    sample_questions,
    split_articles,
)
from bot.answering.data import Answer
from bot.answering.evaluation import percentile
from bot.service import StoryService
from config import Settings, load_settings
from index.chunking import Passage, split_sentences
from index.corpus import default_corpus
from index.embeddings import OFFLINE_ENVIRONMENT, MiniLMEmbeddings
from index.loaders import LoadedDocument
from index.retriever import KeywordIndex
from index.store import open_client
from index.text import tokenize

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out" / "squad_bench.json"
ANSWERERS = ("reader", "extractive")
LABEL = {"reader": "story-bot reader", "extractive": "story-bot today"}
SEED_QUESTIONS = (
    "When will Petro meet Trump?",
    "What did Trump call the conversation?",
    "How long did the call last?",
    "Who did Petro dare to come and get him?",
    "What is the GDP of Colombia?",
    "Where will they meet?",
)
SECTIONS = ("v1", "v2", "latency", "cold")
T = TypeVar("T")
# Sample sizes: (full run, --quick). Over an indexed --data-dir the full run takes about half an
# hour on 2 shared cores: SQuAD 1.1 costs ~0.15 s a question for all methods without the reader and
# ~0.4 s with it, SQuAD 2.0 twice that per question (two collection sizes), cold start a few
# seconds a process. Indexing into an empty --data-dir adds 30-60 minutes once (SQuAD 1.1, 273
# stories, 400 and 800 documents, each for story-bot and for vanilla).
SIZES: dict[str, tuple[Any, Any]] = {
    "questions": (1500, 120),
    "v2_questions": (300, 40),
    "scale_docs": ([400, 800], [40, 80]),
    "scale_questions": (150, 30),
    "seed_repeats": (20, 3),
    "cold_runs": (3, 1),
}


def timed(fn: Callable[..., T], *args: Any) -> tuple[T, float]:
    """``fn(*args)`` and its wall time in milliseconds."""
    started = time.perf_counter()
    value = fn(*args)
    return value, (time.perf_counter() - started) * 1000


def rotated(items: Sequence[str], i: int) -> list[str]:
    """Methods in a different order for each question, so none always meets cold caches first."""
    i %= max(len(items), 1)
    return [*items[i:], *items[:i]]


def spread(times: list[float]) -> dict[str, float]:
    return {"n": len(times), "p50_ms": round(percentile(times, 0.5), 1), "p95_ms": round(percentile(times, 0.95), 1)}


def share(flags: Iterable[bool]) -> float:
    values = list(flags)
    return sum(values) / max(len(values), 1)


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A plain-text table: first column left-aligned, the others right-aligned."""
    cells = [[str(c) for c in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    print(f"\n{title}")
    for row in cells:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))))


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


# --- the pipelines ---------------------------------------------------------------------------


def first_quote(answer: Answer) -> str:
    """The first quote, or when refused the closest passage story-bot shows instead."""
    if answer.citations:
        return answer.citations[0].passage
    return answer.related[0].passage if answer.related else ""


class UncachedEmbeddings(Embeddings):
    """MiniLM for the vanilla pipeline: every text embedded afresh, as the textbook pipeline does
    (story-bot's embedding cache must not answer for it)."""

    def __init__(self, model: MiniLMEmbeddings) -> None:
        self.model = model

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [list(map(float, row)) for row in self.model.encode_uncached(texts)]

    def embed_query(self, text: str) -> list[float]:
        return [float(x) for x in self.model.encode_uncached([text])[0]]


@dataclass
class VanillaAnswer:
    chunk: str
    sentence: str
    retrieval_ms: float
    total_ms: float


class VanillaPipeline:
    """The textbook LangChain RAG pipeline, as the issue defines it, over named groups of
    documents: a question can be limited to one group (a story-sized collection) by a filter."""

    def __init__(self, client: Any, embeddings: UncachedEmbeddings, label: str, documents: dict[str, str]) -> None:
        from langchain_chroma import Chroma
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
        self.chunks = [(group, chunk) for group, text in documents.items() for chunk in splitter.split_text(text)]
        digest = hashlib.sha1("\x00".join(f"{g}\x01{c}" for g, c in self.chunks).encode()).hexdigest()[:12]
        self.name = f"vanilla-{label}-{digest}"  # other content, other collection: never stale
        self.embeddings = embeddings
        self.vectors = Chroma(
            client=client,
            collection_name=self.name,
            embedding_function=embeddings,
            collection_configuration={"hnsw": {"space": "cosine"}},
        )
        if self.vectors._collection.count() != len(self.chunks):
            for start in range(0, len(self.chunks), 256):
                batch = self.chunks[start : start + 256]
                self.vectors.add_texts(
                    [c for _, c in batch],
                    metadatas=[{"group": g} for g, _ in batch],
                    ids=[f"v{i}" for i in range(start, start + len(batch))],
                )
        self._keywords: dict[str | None, KeywordIndex] = {}

    def retrieve(self, question: str, group: str | None = None) -> tuple[list[str], np.ndarray[Any, Any]]:
        """Embed the question, top-4 similarity search: the retrieval step and nothing else."""
        query = self.embeddings.embed_query(question)
        hits = self.vectors.similarity_search_by_vector(query, k=4, filter={"group": group} if group else None)
        return [h.page_content for h in hits], np.asarray(query)

    def answer(self, question: str, group: str | None = None) -> VanillaAnswer:
        started = time.perf_counter()
        (chunks, query), retrieval_ms = timed(self.retrieve, question, group)
        top = chunks[0] if chunks else ""
        sentences = [top[s.start : s.end] for s in split_sentences(top)] or [top]
        vectors = self.embeddings.model.encode_uncached(sentences)
        sentence = sentences[int(np.argmax(vectors @ query))]
        return VanillaAnswer(top, sentence, retrieval_ms, (time.perf_counter() - started) * 1000)

    def bm25_top(self, question: str, group: str | None = None) -> str:
        if group not in self._keywords:
            chunks = [c for g, c in self.chunks if group is None or g == group]
            passages = [Passage(f"c{i}", "chunk", 0, len(c), c) for i, c in enumerate(chunks)]
            self._keywords[group] = KeywordIndex(passages)
        hits = self._keywords[group].search(tokenize(question), 1)
        return hits[0][0].text if hits else ""


@dataclass
class Bench:
    """What every section shares: one service per answerer over one data directory, and MiniLM
    for the vanilla pipeline."""

    data_dir: Path
    services: dict[str, StoryService]
    vanilla_embeddings: UncachedEmbeddings
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def builder(self) -> StoryService:
        """The service that indexes (both read the same collections)."""
        return next(iter(self.services.values()))

    @property
    def client(self) -> Any:
        return open_client(self.data_dir)

    def vanilla(self, label: str, documents: dict[str, str]) -> VanillaPipeline:
        return VanillaPipeline(self.client, self.vanilla_embeddings, label, documents)


def make_bench(data_dir: Path, answerers: Sequence[str]) -> Bench:
    """One service per answerer, each with its own MiniLM whose cache holds one text: a question
    embedded for one method is never free for another, and the seed story's repeated questions
    are embedded every time."""
    services: dict[str, StoryService] = {}
    skipped: dict[str, str] = {}
    for name in answerers:
        settings = load_settings(data_dir=str(data_dir), collection="squad", answerer=name)
        embeddings = MiniLMEmbeddings(settings.resolved_model_path(), settings.embed_batch_size, cache_size=1)
        service = StoryService(settings, embeddings)
        if name == "reader":
            try:
                service.reader()
            except (OSError, ValueError, KeyError, RuntimeError) as exc:  # weights or answerer.json missing or unfit
                skipped[name] = f"{type(exc).__name__}: {exc}"
                continue
        services[name] = service
    first = next(iter(services.values()))
    return Bench(data_dir, services, UncachedEmbeddings(first.embeddings), skipped)


def ask_all(bench: Bench, collection: str, question: str, i: int) -> dict[str, tuple[Answer, float]]:
    """Every story-bot answerer's timed answer to one question."""
    out = {}
    for name in rotated(list(bench.services), i):
        out[name] = timed(bench.services[name].answer_chain(collection).invoke, question)
    return out


def warm_up(bench: Bench, collection: str, vanilla: VanillaPipeline | None, question: str) -> None:
    """Load what the first question of a collection loads (keyword index, HNSW segments)."""
    for service in bench.services.values():
        service.answer_chain(collection).invoke(question)
    if vanilla is not None:
        vanilla.answer(question)
        vanilla.bm25_top(question)


# --- SQuAD 1.1 ---------------------------------------------------------------------------------


@dataclass
class Method:
    """Per question: does the quote hold a gold answer, was it answered (not refused), latency."""

    hits: list[bool] = field(default_factory=list)
    answered: list[bool] = field(default_factory=list)
    latency_ms: list[float] = field(default_factory=list)

    def add(self, hit: bool, answered: bool = True, latency_ms: float | None = None) -> None:
        self.hits.append(hit)
        self.answered.append(answered)
        if latency_ms is not None:
            self.latency_ms.append(latency_ms)

    def rate(self, flags: list[bool], mask: list[bool] | None = None) -> float:
        return share(f for f, m in zip(flags, mask or [True] * len(flags), strict=True) if m)

    def summary(self, mask: list[bool]) -> dict[str, Any]:
        both = [h and a for h, a in zip(self.hits, self.answered, strict=True)]
        out: dict[str, Any] = {
            "holds_answer": self.rate(self.hits),
            "held_out_holds_answer": self.rate(self.hits, mask),
            "held_out_answered": self.rate(self.answered, mask),
            "held_out_answered_and_holds": self.rate(both, mask),
        }
        if self.latency_ms:
            out["latency"] = spread(self.latency_ms)
        return out


@dataclass(frozen=True, slots=True)
class ShortAnswerRow:
    answered: bool
    short: str | None
    answers: tuple[str, ...]

    def exact(self) -> float:
        return float(self.short is not None and any(normalize(self.short) == normalize(a) for a in self.answers))

    def f1(self) -> float:
        return 0.0 if self.short is None else max(f1(self.short, a) for a in self.answers)


def short_answer_summary(rows: list[ShortAnswerRow]) -> dict[str, Any]:
    """Short answers of held-out answerable questions: how often one is shown, and how good."""
    answered = [r for r in rows if r.answered]
    shown = [r for r in answered if r.short is not None]
    return {
        "questions": len(rows),
        "answered": len(answered),
        "with_short_answer": len(shown),
        "share_of_answered": share(r.short is not None for r in answered),
        "em_among_shown": statistics.fmean([r.exact() for r in shown]) if shown else None,
        "f1_among_shown": statistics.fmean([r.f1() for r in shown]) if shown else None,
        "em_all": statistics.fmean([r.exact() for r in rows]) if rows else None,
        "f1_all": statistics.fmean([r.f1() for r in rows]) if rows else None,
    }


def squad_v1(bench: Bench, questions: list[Question], held_out: set[str]) -> dict[str, Any]:
    articles = load_squad(SQUAD_V1)
    started = time.perf_counter()
    article_collection(bench.builder, "squad", articles)
    vanilla = bench.vanilla("squad", {a.source: a.document().text for a in articles})
    print(f"SQuAD 1.1 collections ready in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    retriever = bench.builder.retriever("squad")
    names = [*(LABEL[n] for n in bench.services), "story-bot top passage", "vanilla sentence", "vanilla top chunk"]
    methods = {name: Method() for name in [*names, "BM25 top chunk"]}
    retrieval_ms: list[float] = []
    shorts: list[ShortAnswerRow] = []
    warm_up(bench, "squad", vanilla, "warm up")
    for i, q in enumerate(questions):
        for name, (answer, took) in ask_all(bench, "squad", q.question, i).items():
            methods[LABEL[name]].add(contains_gold(first_quote(answer), q.answers), answer.grounded, took)
            if name == "reader" and q.article in held_out:
                short = answer.short_answer.text if answer.short_answer else None
                shorts.append(ShortAnswerRow(answer.grounded, short, q.answers))
        fused = retriever.retrieve(q.question).passages
        methods["story-bot top passage"].add(bool(fused) and contains_gold(fused[0].passage.text, q.answers))
        plain = vanilla.answer(q.question)
        retrieval_ms.append(plain.retrieval_ms)
        methods["vanilla sentence"].add(contains_gold(plain.sentence, q.answers), latency_ms=plain.total_ms)
        methods["vanilla top chunk"].add(contains_gold(plain.chunk, q.answers))
        bm25, bm25_ms = timed(vanilla.bm25_top, q.question)
        methods["BM25 top chunk"].add(contains_gold(bm25, q.answers), latency_ms=bm25_ms)
        if (i + 1) % 250 == 0:
            print(f"  {i + 1}/{len(questions)} questions", file=sys.stderr)
    mask = [q.article in held_out for q in questions]
    result = {
        "articles": len(articles),
        "passages": bench.builder.store("squad").count(),
        "vanilla_chunks": len(vanilla.chunks),
        "vanilla_collection": vanilla.name,
        "questions": len(questions),
        "held_out_questions": sum(mask),
        "methods": {name: m.summary(mask) for name, m in methods.items()},
        "vanilla_retrieval_latency": spread(retrieval_ms),
        "reader_short_answers": short_answer_summary(shorts) if "reader" in bench.services else None,
    }
    report_v1(result)
    return result


def report_v1(result: dict[str, Any]) -> None:
    rows = []
    for name, m in result["methods"].items():
        latency = m.get("latency", {})
        rows.append(
            [
                name,
                pct(m["holds_answer"]),
                pct(m["held_out_holds_answer"]),
                pct(m["held_out_answered"]),
                pct(m["held_out_answered_and_holds"]),
                ms(latency.get("p50_ms")),
                ms(latency.get("p95_ms")),
            ]
        )
    r = result["vanilla_retrieval_latency"]
    rows.append(["vanilla retrieval only", "", "", "", "", ms(r["p50_ms"]), ms(r["p95_ms"])])
    print_table(
        f"SQuAD 1.1 dev, {result['articles']} articles in one collection ({result['passages']} passages, "
        f"{result['vanilla_chunks']} vanilla chunks); {result['questions']} questions, "
        f"{result['held_out_questions']} from held-out articles. Story-bot's quote is the first citation, "
        "or the closest sentence shown when it refuses.",
        ["method", "holds answer", "held-out", "held-out answered", "held-out answered+holds", "p50 ms", "p95 ms"],
        rows,
    )
    s = result["reader_short_answers"]
    if s:
        print_table(
            f"Reader short answers, held-out SQuAD 1.1 ({s['questions']} answerable questions, "
            f"{s['answered']} answered; SQuAD normalization, max over gold answers)",
            ["", "share", "EM", "F1"],
            [
                ["answered questions opening with a short answer", pct(s["share_of_answered"]), "", ""],
                ["among questions with a short answer", "", pct(s["em_among_shown"]), pct(s["f1_among_shown"])],
                ["all answerable questions (none = 0)", "", pct(s["em_all"]), pct(s["f1_all"])],
            ],
        )


# --- SQuAD 2.0 ---------------------------------------------------------------------------------


@dataclass
class RefusalTally:
    """Answerable questions: answered, and answered with the first quote holding the answer;
    unanswerable questions: refused."""

    answered: list[bool] = field(default_factory=list)
    answered_holds: list[bool] = field(default_factory=list)
    refused: list[bool] = field(default_factory=list)

    def add(self, q: Question, grounded: bool, quote: str) -> None:
        if q.impossible:
            self.refused.append(not grounded)
        else:
            self.answered.append(grounded)
            self.answered_holds.append(grounded and contains_gold(quote, q.answers))

    def summary(self) -> dict[str, Any]:
        return {
            "answerable": len(self.answered),
            "unanswerable": len(self.refused),
            "answered": share(self.answered),
            "answered_and_holds": share(self.answered_holds),
            "refused": share(self.refused),
        }


def refusal_run(
    bench: Bench,
    questions: list[Question],
    collection_of: Callable[[Question], str],
    vanilla: VanillaPipeline,
    by_story: bool,
) -> dict[str, Any]:
    """Every method on every question. ``collection_of`` names the question's story-bot collection;
    ``by_story``: vanilla holds one group per story, named like the story's collection."""
    tallies = {name: RefusalTally() for name in [*(LABEL[n] for n in bench.services), "vanilla sentence"]}
    tallies |= {"vanilla top chunk": RefusalTally(), "BM25 top chunk": RefusalTally()}
    for i, q in enumerate(questions):
        collection = collection_of(q)
        for name, (answer, _) in ask_all(bench, collection, q.question, i).items():
            tallies[LABEL[name]].add(q, answer.grounded, answer.citations[0].passage if answer.citations else "")
        group = collection if by_story else None
        plain = vanilla.answer(q.question, group)
        tallies["vanilla sentence"].add(q, True, plain.sentence)
        tallies["vanilla top chunk"].add(q, True, plain.chunk)
        tallies["BM25 top chunk"].add(q, True, vanilla.bm25_top(q.question, group))
    return {name: t.summary() for name, t in tallies.items()}


def squad_v2(bench: Bench, held_out: set[str], n: int) -> dict[str, Any]:
    articles = [a for a in load_squad(SQUAD_V2) if a.title in held_out]
    questions = sample_questions(articles, n, seed=21) + sample_questions(articles, n, seed=22, impossible=True)
    random.Random(23).shuffle(questions)
    started = time.perf_counter()
    big = article_collection(bench.builder, "v2-held-out", articles)
    big_vanilla = bench.vanilla("v2", {a.source: a.document().text for a in articles})
    warm_up(bench, big, big_vanilla, "warm up")
    by_title = {a.title: a for a in articles}
    stories: dict[str, str] = {}  # question id → its story-sized collection
    story_texts: dict[str, str] = {}  # collection → the story's text, exactly as story-bot indexed it
    for q in questions:
        article = by_title[q.article]
        stories[q.id] = name = story_collection(bench.builder, article, q.paragraph)
        if name not in story_texts:
            story_texts[name] = bench.builder.store(name).document_text(article.source) or ""
    story_vanilla = bench.vanilla("v2-stories", story_texts)
    print(f"SQuAD 2.0 collections ready in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    result = {
        "articles": [a.title for a in articles],
        "answerable": sum(not q.impossible for q in questions),
        "unanswerable": sum(q.impossible for q in questions),
        "stories": len(story_texts),
        "article_sized": refusal_run(bench, questions, lambda q: big, big_vanilla, by_story=False),
        "story_sized": refusal_run(bench, questions, lambda q: stories[q.id], story_vanilla, by_story=True),
    }
    report_v2(result)
    return result


def report_v2(result: dict[str, Any]) -> None:
    rows = []
    for name, a in result["article_sized"].items():
        s = result["story_sized"][name]
        never = name.startswith(("vanilla", "BM25"))
        refused = "0% / 0% (never refuses)" if never else f"{pct(a['refused'])} / {pct(s['refused'])}"
        answered = f"{pct(a['answered'])} / {pct(s['answered'])}"
        holds = f"{pct(a['answered_and_holds'])} / {pct(s['answered_and_holds'])}"
        rows.append([name, answered, holds, refused])
    print_table(
        f"SQuAD 2.0 dev, held-out half ({len(result['articles'])} articles): {result['answerable']} answerable and "
        f"{result['unanswerable']} unanswerable questions. Each cell: article-sized (one collection holding the "
        f"{len(result['articles'])} articles) / story-sized (the question's paragraph and its neighbours; "
        f"{result['stories']} stories)",
        ["method", "answerable: answered", "answered, first quote holds it", "unanswerable: refused"],
        rows,
    )


# --- latency -----------------------------------------------------------------------------------


def seed_story_latency(bench: Bench, repeats: int) -> dict[str, Any]:
    """Warm answer latency on the bundled story, over a fixed set of question shapes."""
    chains = {}
    for name, service in bench.services.items():
        service.ensure_corpus("seed")
        chains[name] = service.answer_chain("seed")
        chains[name].invoke(SEED_QUESTIONS[0])
    times: dict[str, list[float]] = {name: [] for name in chains}
    for r in range(repeats):
        for j, q in enumerate(SEED_QUESTIONS):
            for name in rotated(list(chains), r + j):
                times[name].append(timed(chains[name].invoke, q)[1])
    return {name: spread(t) for name, t in times.items()}


def paired_documents(articles: list[Article]) -> list[tuple[LoadedDocument, list[Question]]]:
    """Two consecutive paragraphs of an article per document, with the questions about them."""
    out = []
    for article in articles:
        stem = article.source.removesuffix(".txt")
        for j in range(0, len(article.paragraphs), 2):
            text = "\n\n".join(p.strip() for p in article.paragraphs[j : j + 2])
            asked = [q for q in article.questions if q.paragraph in (j, j + 1)]
            out.append((LoadedDocument(f"{stem}-{j // 2:02d}.txt", text), asked))
    return out


def scale_latency(bench: Bench, sizes: list[int], n_questions: int) -> list[dict[str, Any]]:
    """Vanilla retrieval against story-bot's whole answer as the collection grows; the same
    questions (about documents in the smallest collection) at every size."""
    documents = paired_documents(load_squad(SQUAD_V1))
    random.Random(5).shuffle(documents)
    pool = [q for _, asked in documents[: min(sizes)] for q in asked]
    questions = random.Random(6).sample(pool, min(n_questions, len(pool)))
    results = []
    for size in sizes:
        chosen = [d for d, _ in documents[:size]]
        name = f"docs{size}"
        started = time.perf_counter()
        store = bench.builder.store(name)
        list(store.index_documents(chosen))
        vanilla = bench.vanilla(name, {d.source: d.text for d in chosen})
        print(f"{size} documents ready in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        warm_up(bench, name, vanilla, "warm up")
        chains = {LABEL[n]: s.answer_chain(name) for n, s in bench.services.items()}
        times: dict[str, list[float]] = {"vanilla retrieval": [], **{LABEL[n]: [] for n in bench.services}}
        for i, q in enumerate(questions):
            for method in rotated(list(times), i):
                run = vanilla.retrieve if method == "vanilla retrieval" else chains[method].invoke
                times[method].append(timed(run, q.question)[1])
        results.append(
            {
                "documents": size,
                "passages": store.count(),
                "vanilla_chunks": len(vanilla.chunks),
                "latency": {m: spread(t) for m, t in times.items()},
            }
        )
    return results


def report_latency(seed: dict[str, Any], scale: list[dict[str, Any]]) -> None:
    print_table(
        "Seed story, warm (each answer embeds its question afresh)",
        ["answerer", "answers", "p50 ms", "p95 ms"],
        [[LABEL[n], s["n"], ms(s["p50_ms"]), ms(s["p95_ms"])] for n, s in seed.items()],
    )
    rows = []
    for entry in scale:
        base = entry["latency"]["vanilla retrieval"]
        for method, s in entry["latency"].items():
            ratio = "" if method == "vanilla retrieval" else f"{s['p50_ms'] / base['p50_ms']:.1f}× / "
            ratio += "" if method == "vanilla retrieval" else f"{s['p95_ms'] / base['p95_ms']:.1f}×"
            rows.append([f"{entry['documents']} docs: {method}", s["n"], ms(s["p50_ms"]), ms(s["p95_ms"]), ratio])
    if rows:
        print_table(
            "Warm latency as the collection grows (documents of two SQuAD paragraphs): vanilla retrieval "
            "(embed + top-4 search) against story-bot's whole answer",
            ["collection: method", "questions", "p50 ms", "p95 ms", "÷ vanilla retrieval (p50 / p95)"],
            rows,
        )


# --- cold start --------------------------------------------------------------------------------


def subprocess_env(**extra: str) -> dict[str, str]:
    """Offline, and allowed to write bytecode: an installed package has its modules compiled, and
    compiling story-bot's on every start would be measured as start-up."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return env | OFFLINE_ENVIRONMENT | extra


@dataclass(frozen=True, slots=True)
class ColdCase:
    """An already indexed collection: story-bot's data directory and the vanilla collection."""

    label: str
    data_dir: Path
    collection: str
    vanilla_collection: str
    question: str


def cold_commands(case: ColdCase, answerers: Iterable[str]) -> dict[str, tuple[list[str], dict[str, str]]]:
    storybot = str(Path(sys.executable).parent / "storybot")
    commands = {
        f"storybot ask ({n})": (
            [storybot, "ask", case.question],
            subprocess_env(
                STORYBOT_DATA_DIR=str(case.data_dir), STORYBOT_COLLECTION=case.collection, STORYBOT_ANSWERER=n
            ),
        )
        for n in answerers
    }
    vanilla = [sys.executable, "-m", "bench.vanilla_cold", "--persist", str(case.data_dir / "chroma")]
    commands["vanilla script"] = ([*vanilla, "--collection", case.vanilla_collection, case.question], subprocess_env())
    return commands


def run_once(command: list[str], env: dict[str, str]) -> tuple[float | None, str]:
    """Wall time of one process in seconds (None if it failed), and its last line of output."""
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    took = time.perf_counter() - started
    if done.returncode == 0:
        return took, (done.stdout.strip().splitlines() or [""])[-1]
    why = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
    log = Path(env.get("STORYBOT_DATA_DIR", "/nonexistent")) / "storybot.log"
    if log.exists():  # the CLI's one-line error points at its log: the cause ends its last record
        last = (log.read_text(encoding="utf-8", errors="replace").strip().splitlines() or [""])[-1]
        why += " | log: " + last.rstrip('"').split("\\n")[-1]
    return None, why


def cold_seed_case(root: Path) -> ColdCase:
    """The bundled story indexed into a directory no process of this bench has opened: by a first
    `storybot ask` (an empty collection gets the seed story) and by the vanilla script."""
    seed = default_corpus()[0]
    root.mkdir(parents=True, exist_ok=True)
    case = ColdCase("seed story", root, "story", "vanilla-seed", SEED_QUESTIONS[0])
    if not (root / "ready").exists():
        (root / seed.source).write_text(seed.text, encoding="utf-8")
        storybot = cold_commands(case, ["extractive"])["storybot ask (extractive)"]
        vanilla = [sys.executable, "-m", "bench.vanilla_cold", "--persist", str(root / "chroma")]
        for command, env in (
            storybot,
            ([*vanilla, "--collection", case.vanilla_collection, "--index", str(root / seed.source)], subprocess_env()),
        ):
            took, last = run_once(command, env)
            if took is None:
                raise RuntimeError(f"building the cold-start collection failed: {last}")
        (root / "ready").write_text("indexed\n", encoding="utf-8")
    return case


def cold_start(cases: list[ColdCase], answerers: list[str], runs: int) -> dict[str, Any]:
    """Median wall time of fresh processes answering one question; one untimed run of each first
    (bytecode written, files in the page cache). Runs of the commands alternate."""
    results: dict[str, Any] = {}
    for case in cases:
        commands = cold_commands(case, answerers)
        outcome: dict[str, Any] = {}
        for name, (command, env) in commands.items():
            took, last = run_once(command, env)
            outcome[name] = {"runs_s": [], "error": None if took is not None else last}
        for _ in range(runs):
            for name, (command, env) in commands.items():
                if outcome[name]["error"] is None:
                    took, last = run_once(command, env)
                    outcome[name]["runs_s"].append(took)
                    if took is None:
                        outcome[name]["error"] = last
        for entry in outcome.values():
            good = [t for t in entry["runs_s"] if t is not None]
            entry["median_s"] = round(statistics.median(good), 2) if good and entry["error"] is None else None
        results[case.label] = outcome
    return results


def reader_load_seconds(service: StoryService, repeats: int = 3) -> float:
    """In-process time to load the reader and its fitted model (median), after MiniLM is loaded."""
    from bot.answering.answerer import AnswererModel
    from bot.answering.reader import SentenceReader

    path = service.settings.resolved_model_path()

    def load() -> None:
        model = AnswererModel.load()
        SentenceReader.load(path, quantize=model.quantized)

    return statistics.median(timed(load)[1] for _ in range(repeats)) / 1000


def report_cold(results: dict[str, Any], reader_load_s: float | None) -> None:
    rows = []
    for label, outcome in results.items():
        vanilla = outcome["vanilla script"]["median_s"]
        for name, entry in outcome.items():
            t = entry["median_s"]
            ratio = f"{t / vanilla:.0%}" if t is not None and vanilla else ""
            shown = f"{t:.2f}" if t is not None else "failed"
            rows.append([f"{label}: {name}", len(entry["runs_s"]), shown, ratio])
    print_table(
        "Cold start: a fresh process answering one question on an indexed collection (median wall time)",
        ["collection: command", "runs", "seconds", "÷ vanilla"],
        rows,
    )
    for label, outcome in results.items():
        for name, entry in outcome.items():
            if entry["error"]:
                print(f"  {label}: {name} failed: {entry['error'][:300]}")
    if reader_load_s is not None:
        print(f"loading the reader and its fitted model in-process: {reader_load_s:.2f} s (median of 3)")


# --- provenance and main -----------------------------------------------------------------------


def git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
    return done.stdout.strip()


def provenance(settings: Settings, args: argparse.Namespace, skipped: dict[str, str]) -> dict[str, Any]:
    """What produced the numbers: commit, uncommitted changes, reader files, settings, sizes."""
    from bot.answering.answerer import ANSWERER_FILE
    from bot.answering.reader import CONFIG_FILE, DATA_DIR, WEIGHTS_FILE

    files = {}
    for name in (WEIGHTS_FILE, CONFIG_FILE, ANSWERER_FILE):
        path = DATA_DIR / name
        files[name] = hashlib.sha256(path.read_bytes()).hexdigest()[:12] if path.exists() else "missing"
    fitted_path = DATA_DIR / ANSWERER_FILE
    fitted = json.loads(fitted_path.read_text(encoding="utf-8")) if fitted_path.exists() else {}
    import torch

    keys = ["k", "fetch_k", "rrf_k", "dense_weight", "bm25_weight", "chunk_chars", "overlap_sentences"]
    keys += ["max_answer_sentences", "second_quote_ratio", "refusal_threshold", "answer_threshold"]
    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "uncommitted_changes": bool(git("status", "--porcelain", "--untracked-files=no")),
        "reader_files_sha256": files,
        "answerer_json": {k: fitted.get(k) for k in ("candidates", "answer_threshold", "short_answer_threshold")}
        | {"quantized": fitted.get("quantized", False), "fit": fitted.get("fit")},
        "answerers_skipped": skipped,
        "settings": {k: getattr(settings, k) for k in keys if hasattr(settings, k)},
        "sizes": {k: getattr(args, k) for k in SIZES},
        "data_dir": str(args.data_dir),
        "torch_threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
    }


def print_provenance(p: dict[str, Any]) -> None:
    dirty = " + uncommitted changes" if p["uncommitted_changes"] else ""
    print(f"commit {p['commit']}{dirty}; reader files (sha256): {p['reader_files_sha256']}")
    fitted = {k: v for k, v in p["answerer_json"].items() if k != "fit"}
    print(f"fitted answerer: {fitted}; settings: {p['settings']}")
    print(f"sizes: {p['sizes']}; torch threads {p['torch_threads']}, load average {p['load_average_start']}")
    for name, why in p["answerers_skipped"].items():
        print(f"answerer {name!r} skipped: {why}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small samples and collections (development)")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS), help="sections to run")
    parser.add_argument("--questions", type=int, help="SQuAD 1.1 questions sampled (full 1500, quick 120)")
    parser.add_argument("--all", action="store_true", help="every one of the 10,570 SQuAD 1.1 questions")
    parser.add_argument("--v2-questions", type=int, help="SQuAD 2.0 answerable and as many unanswerable (300/40)")
    parser.add_argument("--scale-docs", type=int, nargs="+", help="collection sizes for latency (400 800 / 40 80)")
    parser.add_argument("--scale-questions", type=int, help="questions per collection size (150/30)")
    parser.add_argument("--seed-repeats", type=int, help="rounds of the seed-story questions (20/3)")
    parser.add_argument("--cold-runs", type=int, help="timed runs per cold-start command (3/1)")
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "storybot-squad-bench")
    args = parser.parse_args()
    for name, (full, quick) in SIZES.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    return args


def latency_section(bench: Bench, args: argparse.Namespace) -> dict[str, Any]:
    seed = seed_story_latency(bench, args.seed_repeats)
    scale = scale_latency(bench, args.scale_docs, args.scale_questions)
    report_latency(seed, scale)
    return {"seed_story": seed, "scale": scale}


def cold_section(bench: Bench, args: argparse.Namespace, squad: dict[str, Any] | None) -> dict[str, Any]:
    """The seed story, and the SQuAD collection when this run has just made sure it is indexed."""
    cases = [cold_seed_case(Path(f"{args.data_dir}-cold-seed"))]
    if squad is not None:
        question = load_squad(SQUAD_V1)[0].questions[0].question
        cases.append(ColdCase("SQuAD 48 articles", args.data_dir, "squad", squad["vanilla_collection"], question))
    reader_s = reader_load_seconds(bench.services["reader"]) if "reader" in bench.services else None
    results = cold_start(cases, [*bench.services, *bench.skipped], args.cold_runs)
    report_cold(results, reader_s)
    return {"cold_start": results, "reader_load_s": reader_s}


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    bench = make_bench(args.data_dir, ANSWERERS)
    results: dict[str, Any] = {"provenance": provenance(bench.builder.settings, args, bench.skipped)}
    print_provenance(results["provenance"])
    v1_articles = load_squad(SQUAD_V1)
    held_out = {a.title for a in split_articles(v1_articles)[1]}
    minutes: dict[str, float] = {}
    if "v1" in args.only:
        every = [q for a in v1_articles for q in a.questions]
        questions = every if args.all else sample_questions(v1_articles, args.questions)
        results["squad_v1"], minutes["v1"] = timed(squad_v1, bench, questions, held_out)
    if "v2" in args.only:
        results["squad_v2_held_out"], minutes["v2"] = timed(squad_v2, bench, held_out, args.v2_questions)
    if "latency" in args.only:
        part, minutes["latency"] = timed(latency_section, bench, args)
        results |= part
    if "cold" in args.only:
        part, minutes["cold"] = timed(cold_section, bench, args, results.get("squad_v1"))
        results |= part
    minutes = {name: round(took / 60000, 1) for name, took in minutes.items()}
    elapsed = time.perf_counter() - started
    end = {"wall_s": round(elapsed), "section_minutes": minutes, "load_average_end": list(os.getloadavg())}
    results["provenance"] |= end
    out = OUT.with_suffix(".quick.json") if args.quick else OUT
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"\n{elapsed / 60:.1f} min (sections, min: {minutes}); load average {os.getloadavg()[0]:.1f}")
    print(f"numbers in {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
