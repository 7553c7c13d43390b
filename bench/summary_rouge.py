"""Summary benchmark: ROUGE of ``tldr`` against CNN/DailyMail highlights, speed, and ``who`` accuracy.

    python -m bench.summary_rouge            # ROUGE table + PNG, time vs length, who P/R
    python -m bench.summary_rouge --fit      # refit the salience weights on the fit half

Systems, scored in the same run on the same 100 articles (``../shared/eval/cnn_dm``):
LEAD-3 (the first three sentences), LEAD-3 over prose sentences (bylines and headings skipped,
the same filter story-bot uses), a centroid baseline (the three sentences closest to the mean
MiniLM embedding of the article) and story-bot's ``tldr``. ROUGE is Google's ``rouge-score``
(F1, Porter stemming, ROUGE-Lsum over newline-separated sentences). The salience weights are
fitted on the even-numbered articles only, so the odd half is reported separately as held out.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.summaries.entities import find_entities
from bot.summaries.salience import FEATURES, SalienceWeights, document_sentences, prose_sentences, rank_document
from bot.summaries.summarize import summarize_document
from index.chunking import split_sentences
from index.loaders import LoadedDocument

ROOT = Path(__file__).resolve().parents[1]
CSV_PATH = ROOT.parent / "shared" / "eval" / "cnn_dm" / "kaggle_cnndm_train_sample.csv"
WHO_GOLD = ROOT / "tests" / "data" / "who_gold.json"
OUT_DIR = ROOT / "bench" / "out"
METRICS = ("rouge1", "rouge2", "rougeLsum")
# A sentence "belongs in the summary" for fitting when it holds this share of the highlights' bigrams.
LABEL_BIGRAM_RECALL = 0.2


@dataclass(frozen=True, slots=True)
class Article:
    index: int
    document: LoadedDocument
    highlights: str

    @property
    def held_out(self) -> bool:
        return self.index % 2 == 1


def load_articles(path: Path = CSV_PATH) -> list[Article]:
    if not path.exists():
        sys.exit(f"missing {path}: the CNN/DM sample lives in ../shared/eval/cnn_dm/")
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [
        Article(i, LoadedDocument(f"cnndm-{row['id'][:12]}.txt", row["article"].strip()), row["highlights"].strip())
        for i, row in enumerate(rows)
    ]


def scorer() -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(list(METRICS), use_stemmer=True)


# --- systems ---------------------------------------------------------------------------------------


def lead3(document: LoadedDocument) -> list[str]:
    return [document.text[s.start : s.end] for s in split_sentences(document.text)[:3]]


def lead3_prose(document: LoadedDocument) -> list[str]:
    return [s.text for s in prose_sentences(document_sentences(document))[:3]]


def centroid_system(encode: Callable[[list[str]], Any]) -> Callable[[LoadedDocument], list[str]]:
    """Top three prose sentences by cosine to the mean MiniLM embedding, in story order."""
    import numpy as np

    def pick(document: LoadedDocument) -> list[str]:
        texts = [s.text for s in prose_sentences(document_sentences(document))]
        vectors = np.asarray(encode(texts))
        centroid = vectors.mean(axis=0)
        scores = vectors @ (centroid / (np.linalg.norm(centroid) or 1.0))
        best = sorted(np.argsort(-scores)[:3].tolist())
        return [texts[i] for i in best]

    return pick


def storybot_tldr(document: LoadedDocument) -> list[str]:
    return [c.passage for c in summarize_document(document, "tldr").citations]


def score_system(
    system: Callable[[LoadedDocument], list[str]], articles: Sequence[Article]
) -> dict[int, dict[str, float]]:
    rouge = scorer()
    out = {}
    for article in articles:
        summary = "\n".join(" ".join(s.split()) for s in system(article.document))
        scores = rouge.score(article.highlights, summary)
        out[article.index] = {m: 100 * scores[m].fmeasure for m in METRICS}
    return out


def mean_scores(per_article: dict[int, dict[str, float]], indexes: Sequence[int]) -> dict[str, float]:
    return {m: statistics.mean(per_article[i][m] for i in indexes) for m in METRICS}


# --- fitting -----------------------------------------------------------------------------------------


def fit_weights(articles: Sequence[Article]) -> SalienceWeights:
    """Logistic regression of "this sentence carries the highlights" on the salience features."""
    import numpy as np
    from rouge_score import rouge_scorer
    from sklearn.linear_model import LogisticRegression

    bigrams = rouge_scorer.RougeScorer(["rouge2"], use_stemmer=True)
    rows, labels = [], []
    for article in articles:
        ranked = rank_document(article.document)
        for sentence, features in zip(ranked.sentences, ranked.features, strict=True):
            rows.append(features)
            labels.append(bigrams.score(article.highlights, sentence.text)["rouge2"].recall >= LABEL_BIGRAM_RECALL)
    model = LogisticRegression(C=1.0, max_iter=2000).fit(np.array(rows), np.array(labels, dtype=int))
    values = dict(zip(FEATURES, (round(float(w), 4) for w in model.coef_[0]), strict=True))
    return SalienceWeights(bias=round(float(model.intercept_[0]), 4), **values)


# --- speed ---------------------------------------------------------------------------------------------


def long_document(articles: Sequence[Article], words: int) -> LoadedDocument:
    """Articles concatenated (as paragraphs) up to ``words`` words: a long, real-looking text."""
    parts, count, i = [], 0, 0
    while count < words:
        text = articles[i % len(articles)].document.text
        parts.append(text)
        count += len(text.split())
        i += 1
    return LoadedDocument(f"long-{words}.txt", "\n\n".join(parts))


def time_modes(articles: Sequence[Article], sizes: Sequence[int]) -> list[dict[str, float]]:
    from bot.summaries.summarize import MODES

    rows = []
    for size in sizes:
        document = long_document(articles, size)
        row: dict[str, float] = {
            "words": float(len(document.text.split())),
            "sentences": float(len(split_sentences(document.text))),
        }
        for mode in MODES:
            started = time.perf_counter()
            summarize_document(document, mode)
            row[mode] = time.perf_counter() - started
        rows.append(row)
    return rows


# --- who -------------------------------------------------------------------------------------------------


def who_scores(gold_path: Path = WHO_GOLD) -> list[dict[str, Any]]:
    """Precision and recall of recognized people and organizations against hand labels."""
    gold = json.loads(gold_path.read_text(encoding="utf-8"))
    rows = []
    for item in gold:
        text = (gold_path.parent / item["file"]).read_text(encoding="utf-8").strip()
        found = {e.name for e in find_entities(document_sentences(LoadedDocument(item["file"], text)))}
        row = match_entities(item["file"], found, item["required"], item.get("optional", []))
        rows.append({**row, "set": item.get("set", "development")})
    return rows


def match_entities(name: str, found: set[str], required: Sequence[str], optional: Sequence[str]) -> dict[str, Any]:
    """A found name is right when it is a required or optional entity; recall counts required only."""
    allowed = {n.lower() for n in [*required, *optional]}
    correct = [f for f in found if f.lower() in allowed]
    hit = [r for r in required if r.lower() in {f.lower() for f in found}]
    return {
        "file": name,
        "found": len(found),
        "correct": len(correct),
        "required": len(required),
        "hit": len(hit),
        "false_positives": sorted(f for f in found if f.lower() not in allowed),
        "missed": sorted(set(required) - set(hit)),
    }


# --- report ---------------------------------------------------------------------------------------------


def print_who(rows: list[dict[str, Any]]) -> None:
    print(f"\nwho: people and organizations vs hand labels ({len(rows)} documents)")
    for r in rows:
        wrong, missed = ", ".join(r["false_positives"]) or "-", ", ".join(r["missed"]) or "-"
        print(
            f"  [{r['set']}] {r['file']:<28} found {r['found']:>2}  correct {r['correct']:>2}"
            f"  recall {r['hit']}/{r['required']}  false+: {wrong}  missed: {missed}"
        )
    for name in ("development", "held-out"):
        part = [r for r in rows if r["set"] == name]
        found, correct = sum(r["found"] for r in part), sum(r["correct"] for r in part)
        required, hit = sum(r["required"] for r in part), sum(r["hit"] for r in part)
        print(
            f"  {name:<12} precision {correct / max(found, 1):.1%} ({correct}/{found})"
            f"  recall {hit / max(required, 1):.1%} ({hit}/{required})"
        )


def print_rouge(table: dict[str, dict[int, dict[str, float]]], articles: Sequence[Article]) -> None:
    everyone = [a.index for a in articles]
    held = [a.index for a in articles if a.held_out]
    print(
        f"\nROUGE F1 (x100) of tldr vs reference highlights, {len(everyone)} CNN/DM articles "
        f"(held out: the {len(held)} odd-numbered ones, never used to fit)"
    )
    print(f"{'system':<22}{'R-1':>8}{'R-2':>8}{'R-Lsum':>8}   {'held-out R-1':>12}{'R-2':>8}{'R-Lsum':>8}")
    for name, per_article in table.items():
        a, h = mean_scores(per_article, everyone), mean_scores(per_article, held)
        print(
            f"{name:<22}"
            + "".join(f"{a[m]:>8.2f}" for m in METRICS)
            + "   "
            + f"{h['rouge1']:>12.2f}{h['rouge2']:>8.2f}{h['rougeLsum']:>8.2f}"
        )


def plot(
    table: dict[str, dict[int, dict[str, float]]], speed: list[dict[str, float]], articles: Sequence[Article]
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    everyone = [a.index for a in articles]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    width = 0.8 / len(table)
    for k, (name, per_article) in enumerate(table.items()):
        means = mean_scores(per_article, everyone)
        xs = [i + k * width for i in range(len(METRICS))]
        bars = left.bar(xs, [means[m] for m in METRICS], width, label=name)
        left.bar_label(bars, fmt="%.1f", fontsize=7)
    left.set_xticks([i + 0.4 - width / 2 for i in range(len(METRICS))], ["ROUGE-1", "ROUGE-2", "ROUGE-Lsum"])
    left.set_ylabel("F1 × 100")
    left.set_title(f"tldr vs CNN/DM highlights ({len(everyone)} articles)")
    left.legend(fontsize=8)
    words = [row["words"] for row in speed]
    for mode in ("tldr", "key-points", "timeline", "who", "quotes"):
        right.plot(words, [row[mode] for row in speed], marker="o", label=mode)
    right.set_xlabel("document length (words)")
    right.set_ylabel("seconds")
    right.set_title("summary time vs document length (2-core machine)")
    right.legend(fontsize=8)
    fig.tight_layout()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / "summary_rouge.png"
    fig.savefig(path, dpi=120)
    return path


def run(no_centroid: bool, sizes: Sequence[int]) -> None:
    articles = load_articles()
    table: dict[str, dict[int, dict[str, float]]] = {
        "LEAD-3": score_system(lead3, articles),
        "LEAD-3 (prose only)": score_system(lead3_prose, articles),
    }
    if not no_centroid:
        from config import Settings
        from index.embeddings import force_offline, shared_embeddings

        force_offline()
        settings = Settings()
        encode = shared_embeddings(settings.resolved_model_path(), settings.embed_batch_size, 0).encode_uncached
        table["centroid (MiniLM)"] = score_system(centroid_system(encode), articles)
    table["story-bot tldr"] = score_system(storybot_tldr, articles)
    print_rouge(table, articles)

    speed = time_modes(articles, sizes)
    print("\nSeconds per summary vs document length (concatenated CNN/DM articles)")
    print(
        f"{'words':>8}{'sentences':>10}"
        + "".join(f"{m:>12}" for m in ("tldr", "key-points", "timeline", "who", "quotes"))
    )
    for row in speed:
        print(
            f"{row['words']:>8.0f}{row['sentences']:>10.0f}"
            + "".join(f"{row[m]:>12.2f}" for m in ("tldr", "key-points", "timeline", "who", "quotes"))
        )

    print_who(who_scores())
    print(f"\nchart: {plot(table, speed, articles)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fit", action="store_true", help="fit salience weights on the even-numbered articles")
    parser.add_argument("--no-centroid", action="store_true", help="skip the MiniLM centroid baseline (slow)")
    parser.add_argument("--sizes", default="1000,5000,10000,25000,50000", help="document lengths (words) to time")
    args = parser.parse_args(argv)
    if args.fit:
        weights = fit_weights([a for a in load_articles() if not a.held_out])
        print("Paste into bot/summary_salience.py (SalienceWeights defaults):")
        print(weights)
        return
    run(args.no_centroid, [int(s) for s in args.sizes.split(",") if s])


if __name__ == "__main__":
    main()
