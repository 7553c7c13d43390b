"""Fit how the answerer uses the learned reader, from data (SQuAD fit-half articles only).

    python -m bench.fit_answerer [--questions 300] [--stories 300] [--impossible 400]

Run after ``python -m bench.train_reader``. For each question asked of a collection, the first
stage ranks every sentence of the retrieved passages and the reader scores the best ``--pool`` of
them. From those rows the script fits, and writes to ``bot/answering/data/answerer.json``:

- the final ranking: a conditional logit over the candidates (the label: the sentence holds a
  gold answer), over the reader's logit and first-stage evidence;
- how many first-stage candidates the reader reads (accuracy against cost);
- answerability: a class-balanced logistic model. Answerable rows ask SQuAD questions of a
  collection holding their paragraph; "the story doesn't say" rows ask them of an unrelated
  collection, of far paragraphs of their own article, and — the hard kind — SQuAD 2.0's
  unanswerable questions of their own paragraph. Collections are story-sized (three paragraphs)
  and article-sized (a dozen articles);
- the short-answer threshold: the reader's span probability above which the span is shown.

Articles of the held-out half (``bench.squad_data.split_articles``) are never read here.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pickle
import random
import re
import string
import tempfile
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize

from bench.calibrate import article_collection, far_paragraph, fit_logistic, story_collection
from bench.squad_data import SQUAD_V1, SQUAD_V2, Article, Question, contains_gold, load_squad, split_articles
from bot.answering.answerer import ANSWERER_FILE, Candidate, LinearModel, answerable_features, rank_features
from bot.answering.extractive import question_words_missing, score_sentences
from bot.answering.reader import DATA_DIR, SentenceReader
from bot.service import StoryService
from config import load_settings

RANK_FEATURES = ("select", "stage1", "dense", "window_bg", "passage")
BASE_FEATURES = ("select", "score", "margin", "span", "dense", "coverage", "missing")
ANSWERABLE_FEATURES = (*BASE_FEATURES, "lexical", "typed", "sentence_type", "span_type")
POOLS = (4, 6, 8, 12)


@dataclass
class Row:
    """One question asked of one collection: its candidates, labels and kind."""

    kind: str  # "answerable", "stranger", "far", "impossible"
    size: str  # "story" or "articles"
    sentences: list[Any]
    verdicts: list[Any]
    features: np.ndarray[Any, Any]  # (candidates, RANK_FEATURES)
    labels: np.ndarray[Any, Any]
    missing: float
    answers: tuple[str, ...]
    question: str = ""

    @property
    def answerable(self) -> bool:
        return self.kind == "answerable"


def ask(
    service: StoryService, reader: SentenceReader, collection: str, q: Question, kind: str, size: str
) -> Row | None:
    store = service.store(collection)
    retrieval = service.retriever(collection).retrieve(q.question)
    first = score_sentences(retrieval, q.question, store.vectors_of, service.sentence_weights)[: max(POOLS)]
    if not first:
        return None
    verdicts = reader.score(q.question, [s.text for s in first])
    features = np.array([[rank_features(s, v)[f] for f in RANK_FEATURES] for s, v in zip(first, verdicts, strict=True)])
    labels = np.array([kind == "answerable" and contains_gold(s.text, q.answers) for s in first])
    missing = question_words_missing(retrieval)
    return Row(kind, size, first, verdicts, features, labels, missing, q.answers, q.question)


def fit_rank(rows: list[Row], pool: int, l2: float = 0.01) -> np.ndarray[Any, Any]:
    """Conditional logit over the first ``pool`` candidates of answerable rows holding an answer."""
    usable = [(r.features[:pool], r.labels[:pool]) for r in rows if r.answerable and r.labels[:pool].any()]

    def loss(w: np.ndarray[Any, Any]) -> tuple[float, np.ndarray[Any, Any]]:
        total, grad = 0.0, np.zeros_like(w)
        for x, y in usable:
            s = x @ w
            p = np.exp(s - s.max())
            p /= p.sum()
            sp = np.where(y, s, -np.inf)
            q = np.exp(sp - sp.max())
            q /= q.sum()
            total -= math.log(p[y].sum() + 1e-12)
            grad += x.T @ (p - q)
        return total / len(usable) + l2 * w @ w, grad / len(usable) + 2 * l2 * w

    start = np.zeros(len(RANK_FEATURES))
    start[0] = 1.0
    return np.asarray(minimize(loss, start, jac=True, method="L-BFGS-B").x)


def top1(rows: list[Row], weights: np.ndarray[Any, Any], pool: int) -> float:
    hits = [bool(r.labels[int(np.argmax(r.features[:pool] @ weights))]) for r in rows if r.answerable]
    return float(np.mean(hits))


def ranked(row: Row, model: LinearModel, pool: int) -> list[Candidate]:
    out = [
        Candidate(s, v, model.logit(rank_features(s, v)))
        for s, v in zip(row.sentences[:pool], row.verdicts[:pool], strict=True)
    ]
    return sorted(out, key=lambda c: -c.score)


def answerable_matrix(
    rows: list[Row], model: LinearModel, pool: int, features: tuple[str, ...] = ANSWERABLE_FEATURES
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    x = [[answerable_features(ranked(r, model, pool), r.missing, r.question)[f] for f in features] for r in rows]
    return np.array(x), np.array([r.answerable for r in rows], dtype=float)


def out_of_fold(x: np.ndarray[Any, Any], y: np.ndarray[Any, Any], rows: list[Row]) -> np.ndarray[Any, Any]:
    """P(answerable) for every row from a model fitted without its question (two folds by a hash
    of the question, so one question's rows of every kind fall in the same fold)."""
    fold = np.array([zlib.crc32(r.question.encode()) % 2 for r in rows])
    p = np.zeros(len(rows))
    for k in (0, 1):
        coefficients = fit_logistic(x[fold != k], y[fold != k])
        p[fold == k] = probabilities(x[fold == k], coefficients)
    return p


def choose_threshold(rows: list[Row], p: np.ndarray[Any, Any], answered: float) -> float:
    """The strictest threshold that still answers ``answered`` of answerable story-sized questions."""
    mask = np.array([r.answerable and r.size == "story" for r in rows])
    for threshold in np.arange(0.95, 0.0, -0.05):
        if (p[mask] >= threshold).mean() >= answered:
            return round(float(threshold), 2)
    return 0.05


def probabilities(x: np.ndarray[Any, Any], coefficients: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    return np.asarray(1 / (1 + np.exp(-(np.hstack([np.ones((len(x), 1)), x]) @ coefficients))))


# --- short answers -----------------------------------------------------------------------------


def normalize(text: str) -> str:
    """SQuAD's answer normalization: lower case, no punctuation, articles or extra spaces."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def f1(prediction: str, gold: str) -> float:
    p, g = normalize(prediction).split(), normalize(gold).split()
    common = sum((Counter(p) & Counter(g)).values())
    if not p or not g or common == 0:
        return float(p == g)
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


def short_answer_rows(rows: list[Row], model: LinearModel, pool: int) -> list[tuple[float, float]]:
    """(span probability, best F1 against the gold answers) where the best sentence holds one."""
    out = []
    for r in rows:
        if not r.answerable:
            continue
        best = ranked(r, model, pool)[0]
        if not contains_gold(best.sentence.text, r.answers):
            continue
        span = best.sentence.text[best.verdict.span_start : best.verdict.span_end]
        out.append((math.exp(min(0.0, best.verdict.span_score)), max(f1(span, a) for a in r.answers)))
    return out


def choose_short_threshold(pairs: list[tuple[float, float]], precision: float) -> float:
    """The lowest span probability whose shown short answers are mostly right (F1 ≥ 0.5)."""
    print("\nshort answer: threshold, shown, right among shown (F1>=0.5), mean F1 among shown")
    chosen = 1.0
    for threshold in (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
        shown = [score for p, score in pairs if p >= threshold]
        if not shown:
            continue
        right = float(np.mean([s >= 0.5 for s in shown]))
        print(f"  {threshold:4.2f}  {len(shown) / len(pairs):6.1%}  {right:6.1%}  {np.mean(shown):.3f}")
        if right >= precision and threshold < chosen:
            chosen = threshold
    return chosen


# --- collections and questions -----------------------------------------------------------------


def _progress(rows: list[Row | None], what: str) -> None:
    print(f"  {len(rows)} rows ({what})", flush=True)


def gather(service: StoryService, reader: SentenceReader, args: argparse.Namespace) -> list[Row]:
    fit, _held_out = split_articles(load_squad(SQUAD_V1))
    titles = {a.title for a in fit}
    v2 = [a for a in load_squad(SQUAD_V2) if a.title in titles]
    rng = random.Random(11)
    rows: list[Row | None] = []
    a, b = fit[: len(fit) // 2], fit[len(fit) // 2 :]
    big_a, big_b = article_collection(service, "fit-a", a), article_collection(service, "fit-b", b)
    for own, other, articles in ((big_a, big_b, a), (big_b, big_a, b)):
        for q in _sample([q for art in articles for q in art.questions], args.questions, rng):
            rows.append(ask(service, reader, own, q, "answerable", "articles"))
            rows.append(ask(service, reader, other, q, "stranger", "articles"))
    _progress(rows, "article collections")
    by_title = {article.title: article for article in fit}
    for q in _sample([q for art in fit for q in art.questions], args.stories, rng):
        article = by_title[q.article]
        rows.append(ask(service, reader, story_collection(service, article, q.paragraph), q, "answerable", "story"))
        stranger = rng.choice([article for article in fit if article.title != q.article])
        stranger_story = story_collection(service, stranger, rng.randrange(len(stranger.paragraphs)))
        rows.append(ask(service, reader, stranger_story, q, "stranger", "story"))
        elsewhere = far_paragraph(article, q, rng)
        if elsewhere is not None:
            rows.append(ask(service, reader, story_collection(service, article, elsewhere), q, "far", "story"))
        if len(rows) % 100 < 3:
            _progress(rows, "stories")
    rows.extend(_impossible_rows(service, reader, v2, args.impossible, rng))
    return [r for r in rows if r is not None]


def _impossible_rows(
    service: StoryService, reader: SentenceReader, articles: list[Article], n: int, rng: random.Random
) -> list[Row | None]:
    """SQuAD 2.0: unanswerable questions written to look answerable from their paragraph, asked of
    that paragraph's story-sized collection and of the articles; answerable ones alongside."""
    big = article_collection(service, "fit-v2", articles)
    by_title = {article.title: article for article in articles}
    out: list[Row | None] = []
    for impossible in (True, False):
        pool = [q for art in articles for q in art.questions if q.impossible == impossible]
        for q in _sample(pool, n if impossible else n // 2, rng):
            kind = "impossible" if impossible else "answerable"
            story = story_collection(service, by_title[q.article], q.paragraph)
            out.append(ask(service, reader, story, q, kind, "story"))
            out.append(ask(service, reader, big, q, kind, "articles"))
    return out


def _sample(pool: list[Question], n: int, rng: random.Random) -> list[Question]:
    return rng.sample(pool, min(n, len(pool)))


# --- report ------------------------------------------------------------------------------------


def threshold_table(rows: list[Row], p: np.ndarray[Any, Any], thresholds: tuple[float, ...] = ()) -> None:
    """Answered share of answerable rows and refused share of each kind of unanswerable row."""
    kinds = [("answerable", "answered"), ("stranger", "refused"), ("far", "refused"), ("impossible", "refused")]
    print(
        "\nthreshold | " + " | ".join(f"{size} {kind} {verb}" for size in ("story", "articles") for kind, verb in kinds)
    )
    for threshold in thresholds or (0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
        cells = []
        for size in ("story", "articles"):
            for kind, verb in kinds:
                mask = np.array([r.kind == kind and r.size == size for r in rows])
                if not mask.any():
                    cells.append("-")
                    continue
                answered = p[mask] >= threshold
                share = answered.mean() if verb == "answered" else 1 - answered.mean()
                cells.append(f"{share:.1%}")
        print(f"  {threshold:.2f} | " + " | ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=300, help="questions per half, asked of article collections")
    parser.add_argument("--stories", type=int, default=300, help="questions asked of story-sized collections")
    parser.add_argument("--impossible", type=int, default=400, help="SQuAD 2.0 unanswerable questions")
    parser.add_argument("--pool", type=int, default=4, choices=POOLS, help="candidates the reader reads")
    parser.add_argument(
        "--answered", type=float, default=0.9, help="share of answerable story questions the threshold keeps answering"
    )
    parser.add_argument("--short-precision", type=float, default=0.9, help="share of shown short answers right")
    parser.add_argument("--reuse", action="store_true", help="refit from the rows the last run gathered")
    parser.add_argument("--data-dir", default=os.path.join(tempfile.gettempdir(), "storybot-fit"))
    args = parser.parse_args()
    settings = load_settings(data_dir=args.data_dir, answerer="extractive")
    service = StoryService(settings)
    reader = SentenceReader.load(settings.resolved_model_path())
    cache = Path(args.data_dir) / "rows.pkl"
    if args.reuse and cache.exists():
        rows = pickle.loads(cache.read_bytes())
    else:
        rows = gather(service, reader, args)
        cache.write_bytes(pickle.dumps(rows))
    answerable = [r for r in rows if r.answerable]
    print(f"rows: {len(answerable)} answerable, {len(rows) - len(answerable)} not")
    reach = np.mean([r.labels.any() for r in answerable])
    print(f"some first-stage candidate holds the answer: {reach:.1%}")
    print("\npool | some candidate holds it | first sentence holds it (fit rows): stage 1 alone | reader + stage 1")
    stage1 = np.zeros(len(RANK_FEATURES))
    stage1[RANK_FEATURES.index("stage1")] = 1.0
    fitted = {pool: fit_rank(rows, pool) for pool in POOLS}
    for pool in POOLS:
        within = np.mean([r.labels[:pool].any() for r in answerable])
        print(f"  {pool:3d} | {within:.1%} | {top1(rows, stage1, pool):.1%} | {top1(rows, fitted[pool], pool):.1%}")
    pool = args.pool
    weights = fitted[pool]
    rank = LinearModel(RANK_FEATURES, tuple(float(w) for w in weights))
    for name, features in (("first-fit features", BASE_FEATURES), ("with answer-type features", ANSWERABLE_FEATURES)):
        x, y = answerable_matrix(rows, rank, pool, features)
        p = out_of_fold(x, y, rows)
        print(f"\nanswerability, {name}, out of fold (questions unseen by the model that scores them):")
        threshold_table(rows, p)
    threshold = choose_threshold(rows, p, args.answered)
    print(f"\nchosen threshold {threshold} (keeps {args.answered:.0%} of answerable story questions answered):")
    threshold_table(rows, p, (threshold,))
    coefficients = fit_logistic(x, y)
    short = choose_short_threshold(short_answer_rows(rows, rank, pool), args.short_precision)
    model = {
        "candidates": pool,
        "rank": {"weights": dict(zip(RANK_FEATURES, map(float, weights), strict=True)), "bias": 0.0},
        "answerable": {
            "weights": dict(zip(ANSWERABLE_FEATURES, map(float, coefficients[1:]), strict=True)),
            "bias": float(coefficients[0]),
        },
        "answer_threshold": threshold,
        "short_answer_threshold": short,
        "fit": {
            "rows": len(rows),
            "answerable_rows": len(answerable),
            "top1_fit_rows": round(top1(rows, weights, pool), 4),
            "command": "python -m bench.fit_answerer",
        },
    }
    (DATA_DIR / ANSWERER_FILE).write_text(json.dumps(model, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {DATA_DIR / ANSWERER_FILE}")


if __name__ == "__main__":
    main()
