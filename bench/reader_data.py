"""SQuAD (question, sentence) candidates for the sentence reader, with answer character offsets.

``bench/squad_data.py`` keeps answer texts only; the reader's span head needs where the answer
is, so this loader reads the files itself. Answerable questions come from SQuAD 1.1 dev; from the
SQuAD 2.0 file only the unanswerable questions are taken (its answerable ones repeat 1.1's
questions under new ids, and its ``plausible_answers`` are not answers). Articles are split with
``bench.squad_data.split_articles`` (seed 13), the split every benchmark here uses.

Candidates of a question: the sentences of its paragraph that hold a gold answer span
(positives), the other sentences of its paragraph, and "hard" negatives — sentences of other
paragraphs of the same article most similar to the question, lexically or densely — because at
inference time the candidates come from retrieval and are topical by construction.
"""

from __future__ import annotations

import json
import math
import random
import re
import string
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.squad_data import SQUAD_V1, SQUAD_V2, load_squad, split_articles
from index.chunking import Span, split_sentences
from index.text import STOPWORDS, stem, words

# A sentence that contains a gold answer's text outside the gold span may or may not answer the
# question; such sentences are left out of training and evaluation rather than guessed.
AMBIGUOUS = "ambiguous"


@dataclass(frozen=True, slots=True)
class GoldAnswer:
    text: str
    start: int  # character offset in the paragraph

    @property
    def end(self) -> int:
        return self.start + len(self.text)


@dataclass(frozen=True, slots=True)
class ReaderQuestion:
    id: str
    text: str
    paragraph: int
    answers: tuple[GoldAnswer, ...]  # empty: unanswerable (SQuAD 2.0)

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


@dataclass(frozen=True, slots=True)
class ReaderArticle:
    title: str
    paragraphs: tuple[str, ...]
    sentences: tuple[tuple[Span, ...], ...]  # per paragraph, offsets into that paragraph
    questions: tuple[ReaderQuestion, ...]

    def sentence_text(self, paragraph: int, span: Span) -> str:
        return self.paragraphs[paragraph][span.start : span.end]


@dataclass(frozen=True, slots=True)
class Candidate:
    """One (question, sentence) pair with its labels: ``answer_start``/``answer_end`` are
    character offsets into ``sentence`` (-1 when the sentence holds no answer)."""

    question_id: str
    sentence: str
    label: int
    answer_start: int
    answer_end: int
    kind: str  # "positive", "paragraph", "hard" or "unanswerable"


@dataclass(frozen=True, slots=True)
class QuestionPool:
    """Every candidate a question may be trained or evaluated on."""

    question: ReaderQuestion
    article: str
    positives: tuple[Candidate, ...]
    paragraph_negatives: tuple[Candidate, ...]
    hard_negatives: tuple[Candidate, ...]  # most similar first

    def evaluation_candidates(self) -> list[Candidate]:
        return [*self.positives, *self.paragraph_negatives, *self.hard_negatives]

    def sample(self, rng: random.Random, paragraph_cap: int, hard_cap: int) -> list[Candidate]:
        """A fresh subset per epoch: all positives, some paragraph and some hard negatives."""
        paragraph = rng.sample(self.paragraph_negatives, min(paragraph_cap, len(self.paragraph_negatives)))
        hard = rng.sample(self.hard_negatives, min(hard_cap, len(self.hard_negatives)))
        return [*self.positives, *paragraph, *hard]


def _paragraph_index(raw_articles: list[dict[str, Any]]) -> dict[str, tuple[str, int]]:
    return {p["context"]: (a["title"], i) for a in raw_articles for i, p in enumerate(a["paragraphs"])}


def _v1_questions(raw: dict[str, Any]) -> list[ReaderQuestion]:
    return [
        ReaderQuestion(
            qa["id"],
            qa["question"],
            number,
            tuple(dict.fromkeys(GoldAnswer(a["text"], int(a["answer_start"])) for a in qa["answers"])),
        )
        for number, paragraph in enumerate(raw["paragraphs"])
        for qa in paragraph["qas"]
    ]


def _unanswerable(v2_path: Path, where: dict[str, tuple[str, int]]) -> dict[str, list[ReaderQuestion]]:
    by_title: dict[str, list[ReaderQuestion]] = {}
    for raw in json.loads(v2_path.read_text(encoding="utf-8"))["data"]:
        for paragraph in raw["paragraphs"]:
            title, number = where[paragraph["context"]]
            for qa in paragraph["qas"]:
                if qa.get("is_impossible"):
                    by_title.setdefault(title, []).append(ReaderQuestion(qa["id"], qa["question"], number, ()))
    return by_title


def load_reader_articles(v1_path: Path = SQUAD_V1, v2_path: Path = SQUAD_V2) -> list[ReaderArticle]:
    """SQuAD 1.1 dev articles with their sentences, plus SQuAD 2.0's unanswerable questions."""
    raw_articles = json.loads(v1_path.read_text(encoding="utf-8"))["data"]
    unanswerable = _unanswerable(v2_path, _paragraph_index(raw_articles))
    articles = []
    for raw in raw_articles:
        paragraphs = tuple(p["context"] for p in raw["paragraphs"])
        articles.append(
            ReaderArticle(
                raw["title"],
                paragraphs,
                tuple(tuple(split_sentences(p)) for p in paragraphs),
                tuple(_v1_questions(raw) + unanswerable.get(raw["title"], [])),
            )
        )
    return articles


@dataclass(frozen=True, slots=True)
class ArticleSplit:
    train: tuple[str, ...]
    validation: tuple[str, ...]
    held_out: tuple[str, ...]


def article_split(articles: Sequence[ReaderArticle], validation_size: int = 4, seed: int = 13) -> ArticleSplit:
    """The shared fit/held-out split; a few fit articles (half of them with unanswerable
    questions, so validation has an answerability AUC) are kept aside for early decisions."""
    fit, held_out = split_articles(load_squad(SQUAD_V1), seed=seed)
    fit_titles = [a.title for a in fit]
    with_unanswerable = {a.title for a in articles if any(not q.answerable for q in a.questions)}
    shuffled = sorted(fit_titles)
    random.Random(seed).shuffle(shuffled)
    first = [t for t in shuffled if t in with_unanswerable][: validation_size // 2]
    rest = [t for t in shuffled if t not in first][: validation_size - len(first)]
    validation = set(first + rest)
    return ArticleSplit(
        tuple(t for t in fit_titles if t not in validation),
        tuple(t for t in fit_titles if t in validation),
        tuple(a.title for a in held_out),
    )


def _answer_in(span: Span, answers: Sequence[GoldAnswer]) -> GoldAnswer | None:
    """The first gold answer whose character span lies inside the sentence."""
    return next((a for a in answers if span.start <= a.start and a.end <= span.end), None)


def _mentions(text: str, answers: Sequence[GoldAnswer]) -> bool:
    lowered = text.lower()
    return any(a.text.strip().lower() in lowered for a in answers if a.text.strip())


def _paragraph_candidates(article: ReaderArticle, question: ReaderQuestion) -> list[Candidate]:
    out = []
    for span in article.sentences[question.paragraph]:
        text = article.sentence_text(question.paragraph, span)
        gold = _answer_in(span, question.answers)
        if gold is not None:
            out.append(Candidate(question.id, text, 1, gold.start - span.start, gold.end - span.start, "positive"))
        elif _mentions(text, question.answers):
            out.append(Candidate(question.id, text, 0, -1, -1, AMBIGUOUS))
        else:
            kind = "paragraph" if question.answerable else "unanswerable"
            out.append(Candidate(question.id, text, 0, -1, -1, kind))
    return out


# Scores every sentence of an article for a question: higher is more similar.
SimilarityFn = Callable[[ReaderArticle, ReaderQuestion], np.ndarray[Any, Any]]


def question_pool(article: ReaderArticle, question: ReaderQuestion, similar: SimilarityFn, hard: int) -> QuestionPool:
    """The candidates of one question; ``hard`` negatives come from other paragraphs."""
    own = [c for c in _paragraph_candidates(article, question) if c.kind != AMBIGUOUS]
    scores = similar(article, question)
    flat = [(p, s) for p, spans in enumerate(article.sentences) for s in spans]
    hard_negatives: list[Candidate] = []
    for index in np.argsort(-scores, kind="stable"):
        paragraph, span = flat[index]
        text = article.sentence_text(paragraph, span)
        if paragraph == question.paragraph or _mentions(text, question.answers):
            continue
        hard_negatives.append(Candidate(question.id, text, 0, -1, -1, "hard"))
        if len(hard_negatives) >= hard:
            break
    return QuestionPool(
        question,
        article.title,
        tuple(c for c in own if c.label == 1),
        tuple(c for c in own if c.label == 0),
        tuple(hard_negatives),
    )


def build_pools(articles: Sequence[ReaderArticle], similar: SimilarityFn, hard: int) -> list[QuestionPool]:
    """Pools of every question; answerable questions whose answer no sentence holds whole (a
    sentence-splitting slip) are dropped."""
    pools = [question_pool(a, q, similar, hard) for a in articles for q in a.questions]
    return [p for p in pools if p.positives or not p.question.answerable]


@dataclass
class SimilarityIndex:
    """Per-article sentence vectors and stems, to find sentences similar to a question: the sum
    of MiniLM cosine and idf-weighted stem overlap (each alone misses what the other finds)."""

    sentence_vectors: dict[str, np.ndarray[Any, Any]]
    question_vectors: dict[str, np.ndarray[Any, Any]]
    sentence_stems: dict[str, list[set[str]]]
    idf: dict[str, dict[str, float]]

    @classmethod
    def build(
        cls, articles: Sequence[ReaderArticle], encode: Callable[[list[str]], np.ndarray[Any, Any]]
    ) -> SimilarityIndex:
        sentence_vectors, question_vectors, stems, idf = {}, {}, {}, {}
        for article in articles:
            texts = [article.sentence_text(p, s) for p, spans in enumerate(article.sentences) for s in spans]
            sentence_vectors[article.title] = encode(texts)
            vectors = encode([q.text for q in article.questions])
            question_vectors.update({q.id: v for q, v in zip(article.questions, vectors, strict=True)})
            stems[article.title] = [content_stems(t) for t in texts]
            idf[article.title] = _idf(stems[article.title])
        return cls(sentence_vectors, question_vectors, stems, idf)

    def __call__(self, article: ReaderArticle, question: ReaderQuestion) -> np.ndarray[Any, Any]:
        dense = self.sentence_vectors[article.title] @ self.question_vectors[question.id]
        return dense + self.lexical(article, question)

    def lexical(self, article: ReaderArticle, question: ReaderQuestion) -> np.ndarray[Any, Any]:
        asked = content_stems(question.text)
        idf = self.idf[article.title]
        total = sum(idf.get(s, 0.0) for s in asked) or 1.0
        return np.array(
            [sum(idf.get(s, 0.0) for s in asked & sent) / total for sent in self.sentence_stems[article.title]]
        )

    def dense(self, article: ReaderArticle, question: ReaderQuestion, texts: Sequence[str]) -> np.ndarray[Any, Any]:
        """Cosine of the question with arbitrary texts of the article (the bi-encoder baseline)."""
        lookup = dict(zip(_article_texts(article), self.sentence_vectors[article.title], strict=True))
        return np.array([lookup[t] @ self.question_vectors[question.id] for t in texts])


def _article_texts(article: ReaderArticle) -> list[str]:
    return [article.sentence_text(p, s) for p, spans in enumerate(article.sentences) for s in spans]


def content_stems(text: str) -> set[str]:
    return {stem(w) for w in words(text) if w not in STOPWORDS}


def _idf(documents: list[set[str]]) -> dict[str, float]:
    counts = Counter(s for doc in documents for s in doc)
    return {s: math.log(1 + len(documents) / n) for s, n in counts.items()}


# Informal phrasings seen in chat: the reader should not depend on tidy punctuation.
_FILLERS = ("so ", "hey, ", "ok so ", "hey ", "um, ", "quick question: ")


def noisy_question(question: str, rng: random.Random, rate: float = 0.25) -> str:
    """With probability ``rate``, a chat-style variant: no question mark, a filler opening, or
    extra trailing punctuation. (Lower-casing is not among them: the tokenizer is uncased.)"""
    if rng.random() >= rate:
        return question
    text = question.strip()
    choice = rng.randrange(4)
    if choice == 0:
        return text.rstrip("?").rstrip()
    if choice == 1:
        return rng.choice(_FILLERS) + text[:1].lower() + text[1:]
    if choice == 2:
        return text.rstrip("?").rstrip() + "??"
    return rng.choice(_FILLERS) + text.rstrip("?").rstrip()


# SQuAD's answer normalization, for exact match and token F1.
def normalize_answer(text: str) -> str:
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    return float(any(normalize_answer(prediction) == normalize_answer(g) for g in golds))


def token_f1(prediction: str, golds: Sequence[str]) -> float:
    return max((_f1(normalize_answer(prediction).split(), normalize_answer(g).split()) for g in golds), default=0.0)


def _f1(predicted: list[str], gold: list[str]) -> float:
    common = sum((Counter(predicted) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def roc_auc(positive: Sequence[float], negative: Sequence[float]) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    if not positive or not negative:
        return float("nan")
    pos, neg = np.asarray(positive)[:, None], np.asarray(negative)[None, :]
    return float(np.mean((pos > neg) + 0.5 * (pos == neg)))
