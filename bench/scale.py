"""Scale: index throughput against raw MiniLM, and answer latency and memory as the corpus grows.

    python -m bench.scale                          # 1, 100, 1,000 and all 2,067 SQuAD dev paragraphs
    python -m bench.scale --sizes 1,50 --questions 20                     # a quick run
    python -m bench.scale --chroma-url http://127.0.0.1:8000              # against `chroma run`

Every SQuAD 1.1 dev paragraph is one document. The corpus grows in stages; at each stage the new
documents are indexed through ``PassageStore.index_documents`` (what `storybot index` uses) while
the same passages are also encoded by MiniLM alone, slice by slice in alternation, so both see
the same machine load: the ratio of the two throughputs is the ingestion overhead (target ≥ 0.9).
Then questions about indexed paragraphs are answered (after one warm-up question that rebuilds
the keyword index), and the process's resident memory is read. A table is printed and
``bench/out/scale.png`` plots latency and memory against corpus size.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.squad_data import SQUAD_V1, Question, contains_gold, load_squad
from bot.answering.evaluation import percentile
from bot.service import StoryService
from config import load_settings
from index.chunking import chunk_document
from index.loaders import LoadedDocument
from index.store import PassageStore

OUT = Path(__file__).resolve().parent / "out" / "scale.png"


@dataclass(frozen=True, slots=True)
class Paragraph:
    """One SQuAD paragraph as a document, with the questions asked about it."""

    document: LoadedDocument
    questions: tuple[Question, ...]


@dataclass(slots=True)
class Throughput:
    """Passages and seconds spent, by raw MiniLM and by the whole ingestion path."""

    passages: int = 0
    raw_seconds: float = 0.0
    index_seconds: float = 0.0

    def add(self, other: Throughput) -> None:
        self.passages += other.passages
        self.raw_seconds += other.raw_seconds
        self.index_seconds += other.index_seconds

    @property
    def raw_rate(self) -> float:
        return self.passages / self.raw_seconds if self.raw_seconds else float("nan")

    @property
    def index_rate(self) -> float:
        return self.passages / self.index_seconds if self.index_seconds else float("nan")

    @property
    def ratio(self) -> float:
        return self.index_rate / self.raw_rate if self.passages else float("nan")


@dataclass(frozen=True, slots=True)
class Stage:
    """Measurements once the corpus holds ``documents`` documents."""

    documents: int
    passages: int
    ingest: Throughput
    first_ask_ms: float
    p50_ms: float
    p95_ms: float
    gold_rate: float
    rss_mb: float
    peak_rss_mb: float


def load_paragraphs() -> list[Paragraph]:
    """Every SQuAD dev paragraph as its own document, in file order."""
    paragraphs = []
    for article in load_squad(SQUAD_V1):
        stem = article.source.removesuffix(".txt")
        for number, text in enumerate(article.paragraphs):
            questions = tuple(q for q in article.questions if q.paragraph == number and not q.impossible)
            paragraphs.append(Paragraph(LoadedDocument(f"{stem}-p{number:03d}.txt", text.strip()), questions))
    return paragraphs


def memory_mb() -> tuple[float, float]:
    """(resident, peak resident) memory of this process in MB, from /proc (Linux)."""
    fields = dict(
        line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("Vm")
    )
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def ingest(store: PassageStore, documents: list[LoadedDocument], slice_passages: int) -> Throughput:
    """Index ``documents`` and encode their passages with MiniLM alone, slice by slice in
    alternating order, so that both measurements see the same background load."""
    total = Throughput()
    for number, batch in enumerate(_slices(store, documents, slice_passages)):
        texts = [p.text for d in batch for p in chunk_document(d.source, d.text, store.chunk_chars)]

        def raw(texts: list[str] = texts) -> None:
            for start in range(0, len(texts), store.batch_passages):  # the batches indexing uses
                store.embeddings.encode_uncached(texts[start : start + store.batch_passages])

        def index(batch: list[LoadedDocument] = batch) -> None:
            list(store.index_documents(batch))

        first, second = (raw, index) if number % 2 == 0 else (index, raw)
        seconds = {first: _timed(first), second: _timed(second)}
        total.add(Throughput(len(texts), seconds[raw], seconds[index]))
    return total


def _slices(store: PassageStore, documents: list[LoadedDocument], size: int) -> list[list[LoadedDocument]]:
    """Documents in consecutive slices of about ``size`` passages."""
    slices: list[list[LoadedDocument]] = [[]]
    count = 0
    for document in documents:
        if count >= size:
            slices.append([])
            count = 0
        slices[-1].append(document)
        count += len(chunk_document(document.source, document.text, store.chunk_chars))
    return [s for s in slices if s]


def answer_latency(
    service: StoryService, collection: str, questions: list[Question]
) -> tuple[float, list[float], float]:
    """(first answer ms, per-question ms, share of first quotes holding a gold answer)."""
    first = _timed(lambda: service.ask(questions[0].question, collection)) * 1000
    latencies, hits = [], 0
    for question in questions:
        started = time.perf_counter()
        answer = service.ask(question.question, collection)
        latencies.append((time.perf_counter() - started) * 1000)
        hits += bool(answer.citations) and contains_gold(answer.citations[0].passage, question.answers)
    return first, latencies, hits / max(len(questions), 1)


def run_stage(
    service: StoryService,
    collection: str,
    paragraphs: list[Paragraph],
    indexed: int,
    size: int,
    options: argparse.Namespace,
) -> Stage:
    """Grow the corpus from ``indexed`` to ``size`` documents and measure."""
    store = service.store(collection)
    throughput = ingest(store, [p.document for p in paragraphs[indexed:size]], options.slice_passages)
    pool = [q for p in paragraphs[:size] for q in p.questions]
    questions = random.Random(size).sample(pool, min(options.questions, len(pool)))
    first, latencies, gold = answer_latency(service, collection, questions)
    rss, peak = memory_mb()
    return Stage(
        size,
        store.count(),
        throughput,
        first,
        percentile(latencies, 0.5),
        percentile(latencies, 0.95),
        gold,
        rss,
        peak,
    )


def print_table(stages: list[Stage], overall: Throughput, mode: str) -> None:
    print(f"\nstorybot scale ({mode}); throughput in passages/s, latency in ms, memory in MB")
    header = "| docs | passages | index p/s | raw MiniLM p/s | ratio | 1st ask | p50 | p95 | gold@1 | RSS | peak RSS |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for s in stages:
        t = s.ingest
        print(
            f"| {s.documents:,} | {s.passages:,} | {t.index_rate:.1f} | {t.raw_rate:.1f} | {t.ratio:.2f} "
            f"| {s.first_ask_ms:.0f} | {s.p50_ms:.0f} | {s.p95_ms:.0f} | {s.gold_rate:.0%} "
            f"| {s.rss_mb:.0f} | {s.peak_rss_mb:.0f} |"
        )
    print(
        f"\nall stages: {overall.passages:,} passages indexed at {overall.index_rate:.1f} p/s; "
        f"raw MiniLM {overall.raw_rate:.1f} p/s; ratio {overall.ratio:.2f} (target ≥ 0.9)"
    )


def plot(stages: list[Stage], path: Path, mode: str) -> None:
    """Answer latency (p50, p95) and memory against corpus size, log-scaled documents."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [s.documents for s in stages]
    fig, latency = plt.subplots(figsize=(7, 4.2))
    latency.plot(sizes, [s.p50_ms for s in stages], "o-", label="answer p50")
    latency.plot(sizes, [s.p95_ms for s in stages], "s--", label="answer p95")
    latency.set_xscale("log")
    latency.set_xlabel("documents in the collection (SQuAD dev paragraphs)")
    latency.set_ylabel("answer latency (ms)")
    latency.set_ylim(bottom=0)
    memory = latency.twinx()
    memory.plot(sizes, [s.rss_mb for s in stages], "^:", color="grey", label="RSS")
    memory.set_ylabel("resident memory (MB)")
    memory.set_ylim(bottom=0)
    lines = latency.get_legend_handles_labels()[0] + memory.get_legend_handles_labels()[0]
    latency.legend(lines, [str(line.get_label()) for line in lines], loc="upper left")
    latency.set_title(f"story-bot: latency and memory vs corpus size ({mode})")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    print(f"plot: {path}")


def parse_sizes(text: str, available: int) -> list[int]:
    sizes = sorted({available if part.strip() == "all" else min(int(part), available) for part in text.split(",")})
    if not sizes or sizes[0] < 1:
        raise SystemExit("--sizes: give positive document counts (or 'all'), e.g. 1,100,1000,all")
    return sizes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,100,1000,all", help="corpus sizes in documents (default: %(default)s)")
    parser.add_argument("--questions", type=int, default=100, help="questions timed per stage")
    parser.add_argument("--slice-passages", type=int, default=256, help="passages per raw/index alternation")
    parser.add_argument("--chroma-url", default="", help="a Chroma server (chroma run) instead of the embedded store")
    parser.add_argument("--out", type=Path, default=OUT, help="where to write the plot")
    options = parser.parse_args(argv)

    paragraphs = load_paragraphs()
    sizes = parse_sizes(options.sizes, len(paragraphs))
    with tempfile.TemporaryDirectory(prefix="storybot-scale-") as data_dir:
        service = StoryService(load_settings(data_dir=data_dir, chroma_url=options.chroma_url))
        collection = f"bench-scale-{uuid.uuid4().hex[:8]}"
        service.embeddings.encode_uncached(["warm up the model"] * 8)
        stages: list[Stage] = []
        overall = Throughput()
        indexed = 0
        try:
            for size in sizes:
                stage = run_stage(service, collection, paragraphs, indexed, size, options)
                indexed = size
                overall.add(stage.ingest)
                stages.append(stage)
                print(f"  {size:,} documents: p50 {stage.p50_ms:.0f} ms, ratio {stage.ingest.ratio:.2f}", flush=True)
        finally:
            if options.chroma_url:
                _drop(service, collection)
    mode = "Chroma server" if options.chroma_url else "embedded Chroma"
    print_table(stages, overall, mode)
    plot(stages, options.out, mode)


def _drop(service: StoryService, collection: str) -> None:
    """Leave a shared server as it was found."""
    client = service.store(collection)._client
    for name in (collection, collection + ".documents"):
        client.delete_collection(name)


if __name__ == "__main__":
    main()
