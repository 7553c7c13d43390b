"""Fit the sentence-ranking weights and the refusal model from data (SQuAD 1.1 dev, fit half).

    python -m bench.calibrate [--questions 400] [--stories 250]

Ranking: a conditional logit over the candidate sentences of each question (the label: the
sentence holds a gold answer), on collections of a dozen whole articles.

Refusal: a logistic model over the best sentence's evidence. "Answerable" rows ask a question of
a collection that holds its paragraph; "the story doesn't say" rows ask it of a collection from
another article, or of other paragraphs of its own article that do not contain the answer.
Collections come in two sizes, a dozen articles and a story-sized three paragraphs, because a
bot serves both. The script prints the settings to paste into
``config/default.toml``; articles of the held-out half are never seen here.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import tempfile
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize

from bench.squad_data import SQUAD_V1, Article, Question, contains_gold, load_squad, sample_questions, split_articles
from bot.answering.extractive import FEATURES, question_words_missing, score_sentences
from bot.service import StoryService
from config import load_settings
from index.loaders import LoadedDocument

REFUSAL_FEATURES = ("dense", "coverage", "missing")


@dataclass
class Group:
    """The candidate sentences of one question asked of one collection."""

    features: np.ndarray[Any, Any]
    labels: np.ndarray[Any, Any]
    missing: float
    answerable: bool


def ask_features(service: StoryService, collection: str, question: Question, answerable: bool) -> Group | None:
    retrieval = service.retriever(collection).retrieve(question.question)
    vectors = service.store(collection).vectors_of
    ranked = score_sentences(retrieval, question.question, vectors, service.sentence_weights)
    if not ranked:
        return None
    return Group(
        np.array([r.features() for r in ranked]),
        np.array([answerable and contains_gold(r.text, question.answers) for r in ranked]),
        question_words_missing(retrieval),
        answerable,
    )


def article_collection(service: StoryService, name: str, articles: list[Article]) -> str:
    store = service.store(name)
    for article in articles:
        store.index_document(article.document())
    return name


def story_collection(service: StoryService, article: Article, paragraph: int) -> str:
    """A story-sized collection: the paragraph and its neighbours, as one document."""
    lo, hi = max(0, paragraph - 1), min(len(article.paragraphs), paragraph + 2)
    text = "\n\n".join(p.strip() for p in article.paragraphs[lo:hi])
    name = "s-" + hashlib.sha1(f"{article.title}:{lo}".encode()).hexdigest()[:16]
    service.store(name).index_document(LoadedDocument(article.source, text))
    return name


def far_paragraph(article: Article, question: Question, rng: random.Random) -> int | None:
    """A paragraph of the same article, away from the question's, whose neighbourhood does not
    contain the answer text (so the "not answerable" label is honest)."""
    choices = [i for i in range(len(article.paragraphs)) if abs(i - question.paragraph) >= 3]
    rng.shuffle(choices)
    for i in choices[:5]:
        window = " ".join(article.paragraphs[max(0, i - 1) : i + 2])
        if not contains_gold(window, question.answers):
            return i
    return None


def fit_ranking(groups: list[Group], l2: float = 0.01) -> np.ndarray[Any, Any]:
    """Conditional logit: maximize the probability mass on sentences holding the answer."""
    usable = [g for g in groups if g.labels.any()]

    def loss(w: np.ndarray[Any, Any]) -> tuple[float, np.ndarray[Any, Any]]:
        total, grad = 0.0, np.zeros_like(w)
        for g in usable:
            s = g.features @ w
            p = np.exp(s - s.max())
            p /= p.sum()
            sp = np.where(g.labels, s, -np.inf)
            q = np.exp(sp - sp.max())
            q /= q.sum()
            total -= np.log(p[g.labels].sum() + 1e-12)
            grad += g.features.T @ (p - q)
        n = len(usable)
        return total / n + l2 * w @ w, grad / n + 2 * l2 * w

    result = minimize(loss, np.ones(len(FEATURES)) * 0.5, jac=True, method="L-BFGS-B")
    return np.asarray(result.x)


def second_quote_table(groups: list[Group], weights: np.ndarray[Any, Any]) -> None:
    """How often quoting the runner-up too rescues an answer, by the runner-up's relative odds.

    ``second_quote_ratio`` is read off this table: the knee where more second quotes stop
    adding answers.
    """
    rows = []
    for g in groups:
        if len(g.labels) < 2:
            continue
        order = np.argsort(-(g.features @ weights))
        scores = g.features @ weights
        rows.append((g.labels[order[0]], g.labels[order[1]], float(np.exp(scores[order[1]] - scores[order[0]]))))
    n = len(rows)
    top1 = sum(a for a, _, _ in rows) / n
    print(f"\nsecond quote: top sentence holds the answer {top1:.1%}")
    for ratio in (0.2, 0.3, 0.4, 0.5, 0.6, 0.8):
        added = [(a, b) for a, b, r in rows if r >= ratio]
        rescued = sum(1 for a, b in added if b and not a)
        share, hit = len(added) / n, top1 + rescued / n
        print(f"  ratio >= {ratio}: two quotes in {share:.1%} of answers, some quote holds it {hit:.1%}")


def refusal_rows(
    groups: list[Group], weights: np.ndarray[Any, Any]
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    dense, coverage = FEATURES.index("dense"), FEATURES.index("window_bg")
    x, y = [], []
    for g in groups:
        best = g.features[int(np.argmax(g.features @ weights))]
        x.append([best[dense], best[coverage], g.missing])
        y.append(g.answerable)
    return np.array(x), np.array(y, dtype=float)


def fit_logistic(x: np.ndarray[Any, Any], y: np.ndarray[Any, Any], l2: float = 0.001) -> np.ndarray[Any, Any]:
    """Class-balanced logistic regression; returns [bias, weights...]."""
    design = np.hstack([np.ones((len(x), 1)), x])
    balance = np.where(y > 0, 0.5 / y.mean(), 0.5 / (1 - y.mean()))

    def loss(w: np.ndarray[Any, Any]) -> tuple[float, np.ndarray[Any, Any]]:
        p = 1 / (1 + np.exp(-(design @ w)))
        ll = -(balance * (y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12))).mean()
        grad = design.T @ (balance * (p - y)) / len(y)
        return ll + l2 * w[1:] @ w[1:], grad + 2 * l2 * np.r_[0, w[1:]]

    return np.asarray(minimize(loss, np.zeros(design.shape[1]), jac=True, method="L-BFGS-B").x)


def balanced_accuracy(x: np.ndarray[Any, Any], y: np.ndarray[Any, Any], coefficients: np.ndarray[Any, Any]) -> float:
    p = 1 / (1 + np.exp(-(np.hstack([np.ones((len(x), 1)), x]) @ coefficients)))
    return float(np.mean([np.mean(p[y == 1] >= 0.5), np.mean(p[y == 0] < 0.5)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--questions", type=int, default=400, help="questions per half of the fit articles")
    parser.add_argument("--stories", type=int, default=250, help="questions asked of story-sized collections")
    parser.add_argument("--data-dir", default=os.path.join(tempfile.gettempdir(), "storybot-bench"))
    args = parser.parse_args()
    service = StoryService(load_settings(data_dir=args.data_dir))
    fit, _held_out = split_articles(load_squad(SQUAD_V1))
    a, b = fit[: len(fit) // 2], fit[len(fit) // 2 :]
    qa, qb = sample_questions(a, args.questions, seed=1), sample_questions(b, args.questions, seed=2)
    big_a, big_b = article_collection(service, "calib-a", a), article_collection(service, "calib-b", b)
    positives = [ask_features(service, big_a, q, True) for q in qa] + [
        ask_features(service, big_b, q, True) for q in qb
    ]
    negatives = [ask_features(service, big_b, q, False) for q in qa] + [
        ask_features(service, big_a, q, False) for q in qb
    ]

    rng = random.Random(3)
    by_title = {article.title: article for article in fit}
    for q in sample_questions(fit, args.stories, seed=4):
        own = by_title[q.article]
        other = rng.choice([article for article in fit if article.title != q.article])
        positives.append(ask_features(service, story_collection(service, own, q.paragraph), q, True))
        stranger = story_collection(service, other, rng.randrange(len(other.paragraphs)))
        negatives.append(ask_features(service, stranger, q, False))
        elsewhere = far_paragraph(own, q, rng)
        if elsewhere is not None:  # same topic, other facts: the hardest honest "doesn't say"
            negatives.append(ask_features(service, story_collection(service, own, elsewhere), q, False))
    kept_pos = [g for g in positives if g is not None]
    kept_neg = [g for g in negatives if g is not None]

    weights = fit_ranking(kept_pos)
    hits = np.mean([g.labels[int(np.argmax(g.features @ weights))] for g in kept_pos])
    print(f"answerable rows: {len(kept_pos)}, unanswerable rows: {len(kept_neg)}")
    print(f"first sentence holds the answer (fit data): {hits:.3f}")
    second_quote_table(kept_pos, weights)
    x, y = refusal_rows(kept_pos + kept_neg, weights)
    coefficients = fit_logistic(x, y)
    print(f"refusal model balanced accuracy (fit data): {balanced_accuracy(x, y, coefficients):.3f}")
    print("\n# paste into config/default.toml")
    for name, value in zip(FEATURES, weights, strict=True):
        print(f"rank_w_{name} = {value:.4f}")
    print(f"refusal_bias = {coefficients[0]:.4f}")
    for name, value in zip(REFUSAL_FEATURES, coefficients[1:], strict=True):
        print(f"refusal_w_{name} = {value:.4f}")


if __name__ == "__main__":
    main()
