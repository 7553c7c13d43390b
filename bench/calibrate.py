"""Fit the sentence-ranking weights and the refusal model from data (SQuAD 1.1 dev, fit half).

    python -m bench.calibrate [--questions 600]

Ranking: a conditional logit over the candidate sentences of each question (the label: the
sentence holds a gold answer). Refusal: a logistic model over the best sentence's evidence, with
questions asked of their own articles as "answerable" and the same questions asked of other
articles as "the story doesn't say". The script prints the settings to paste into
``config/default.toml``; articles in the held-out half are never seen here.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize

from bench.squad_data import SQUAD_V1, Article, contains_gold, load_squad, sample_questions, split_articles
from bot.extractive import FEATURES, missing_mass, question_term_weights, score_sentences
from bot.service import StoryService
from config import load_settings
from index.retriever import HybridRetriever
from index.text import tokenize

REFUSAL_FEATURES = ("dense", "window", "missing")


@dataclass
class Group:
    features: np.ndarray[Any, Any]
    labels: np.ndarray[Any, Any]
    missing: float
    answerable: bool


def collect(service: StoryService, collection: str, articles: list[Article], questions: list[Any], answerable: bool) -> list[Group]:
    store = service.store(collection)
    for article in articles:
        store.index_document(article.document())
    s = service.settings
    retriever = HybridRetriever(store=store, keyword_cache=service._keyword_cache, k=s.k, fetch_k=s.fetch_k, rrf_k=s.rrf_k)
    groups = []
    for q in questions:
        retrieval = retriever.retrieve(q.question)
        ranked = score_sentences(retrieval, q.question, service.embeddings.encode, service.sentence_weights)
        if not ranked:
            continue
        terms = question_term_weights(tokenize(q.question), retrieval.keywords)
        groups.append(
            Group(
                np.array([r.features() for r in ranked]),
                np.array([answerable and contains_gold(r.text, q.answers) for r in ranked]),
                missing_mass(terms, retrieval.keywords),
                answerable,
            )
        )
    return groups


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


def refusal_rows(groups: list[Group], weights: np.ndarray[Any, Any]) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    x, y = [], []
    index = {name: FEATURES.index(name) for name in ("dense", "window")}
    for g in groups:
        best = g.features[int(np.argmax(g.features @ weights))]
        x.append([best[index["dense"]], best[index["window"]], g.missing])
        y.append(g.answerable)
    return np.array(x), np.array(y, dtype=float)


def fit_logistic(x: np.ndarray[Any, Any], y: np.ndarray[Any, Any], l2: float = 0.001) -> np.ndarray[Any, Any]:
    """Class-balanced logistic regression; returns [bias, weights...]."""
    design = np.hstack([np.ones((len(x), 1)), x])
    balance = np.where(y > 0, 0.5 / y.mean(), 0.5 / (1 - y.mean()))

    def loss(w: np.ndarray[Any, Any]) -> tuple[float, np.ndarray[Any, Any]]:
        z = design @ w
        p = 1 / (1 + np.exp(-z))
        ll = -(balance * (y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12))).mean()
        grad = design.T @ (balance * (p - y)) / len(y)
        return ll + l2 * w[1:] @ w[1:], grad + 2 * l2 * np.r_[0, w[1:]]

    return np.asarray(minimize(loss, np.zeros(design.shape[1]), jac=True, method="L-BFGS-B").x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--questions", type=int, default=600, help="questions per half of the fit articles")
    parser.add_argument("--data-dir", default=os.path.join(tempfile.gettempdir(), "storybot-bench"))
    args = parser.parse_args()
    service = StoryService(load_settings(data_dir=args.data_dir))
    fit, _held_out = split_articles(load_squad(SQUAD_V1))
    a, b = fit[: len(fit) // 2], fit[len(fit) // 2 :]
    qa, qb = sample_questions(a, args.questions, seed=1), sample_questions(b, args.questions, seed=2)
    print(f"fit articles: {len(fit)}; questions: {len(qa) + len(qb)} (each asked twice)")
    positives = collect(service, "calib-a", a, qa, True) + collect(service, "calib-b", b, qb, True)
    negatives = collect(service, "calib-b", b, qa, False) + collect(service, "calib-a", a, qb, False)

    weights = fit_ranking(positives)
    hits = np.mean([g.labels[int(np.argmax(g.features @ weights))] for g in positives])
    print(f"first sentence holds the answer (fit data): {hits:.3f}")
    x, y = refusal_rows(positives + negatives, weights)
    coefficients = fit_logistic(x, y)
    p = 1 / (1 + np.exp(-(np.hstack([np.ones((len(x), 1)), x]) @ coefficients)))
    print(f"refusal model balanced accuracy (fit data): {np.mean([np.mean(p[y == 1] >= 0.5), np.mean(p[y == 0] < 0.5)]):.3f}")
    print("\n# paste into config/default.toml")
    for name, value in zip(FEATURES, weights, strict=True):
        print(f"rank_w_{name} = {value:.4f}")
    print(f"refusal_bias = {coefficients[0]:.4f}")
    for name, value in zip(REFUSAL_FEATURES, coefficients[1:], strict=True):
        print(f"refusal_w_{'coverage' if name == 'window' else name} = {value:.4f}")


if __name__ == "__main__":
    main()
