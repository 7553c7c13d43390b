"""The offline answerers: quote the sentence that answers, open with the short answer, or refuse.

Two stages. Every sentence of the retrieved passages gets cheap evidence features (stored MiniLM
similarity, question words around it, its passage's rank; :mod:`bot.answering.extractive`) and a
first-stage score; the best few go to the learned reader (:mod:`bot.answering.reader`), a
cross-encoder that reads question and sentence together and says whether the sentence holds the
answer and where. A fitted model combines the two into the final ranking, another decides whether
the story answers at all, and the reader's span becomes the short answer when it is confident.
Every weight and threshold comes from data (``bench/fit_answerer.py``), stored beside the reader's
weights in ``data/answerer.json``.

:class:`ExtractiveAnswerer` is the first stage alone (the answerer before the reader), kept for
benchmarks and as a configurable fallback (``answerer = "extractive"``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from bot.answering import DATA_DIR
from bot.answering.attribution import asks_for_speaker, speaker_neighbour
from bot.answering.data import Answer, Citation, ShortAnswer
from bot.answering.extractive import (
    RefusalModel,
    ScoredSentence,
    SentenceVectors,
    SentenceWeights,
    expected_answer_type,
    has_answer_type,
    question_words_missing,
    score_sentences,
)
from index.chunking import passage_sentences
from index.retriever import Retrieval
from index.text import words

if TYPE_CHECKING:  # the reader loads torch; answering with the first stage alone must not
    from bot.answering.reader import ReaderScore, SentenceReader

NOT_IN_STORY = "The story doesn't say."
ANSWERER_FILE = "answerer.json"


class Answerer(Protocol):
    """Turns retrieved passages into an :class:`Answer` (grounded, or "the story doesn't say")."""

    def answer(self, question: str, retrieval: Retrieval) -> Answer: ...


# --- the first stage alone -------------------------------------------------------------------


class ExtractiveAnswerer:
    """Quote the best sentence(s) by the first-stage score, or say the story doesn't say."""

    def __init__(
        self,
        vectors: SentenceVectors,
        weights: SentenceWeights,
        refusal: RefusalModel,
        max_sentences: int = 2,
        second_quote_ratio: float = 0.5,
    ) -> None:
        self.vectors = vectors
        self.weights = weights
        self.refusal = refusal
        self.max_sentences = max_sentences
        self.second_quote_ratio = second_quote_ratio

    def answer(self, question: str, retrieval: Retrieval) -> Answer:
        ranked = score_sentences(retrieval, question, self.vectors, self.weights)
        if not ranked:
            return Answer(question, NOT_IN_STORY, grounded=False)
        best = ranked[0]
        missing = question_words_missing(retrieval)
        confidence = self.refusal.probability(best.dense, best.window_bg, missing)
        if confidence < self.refusal.threshold:
            related = [_citation(1, best, best.score)]
            return Answer(question, NOT_IN_STORY, grounded=False, related=related, confidence=confidence)
        chosen = close_calls([(s, s.score) for s in ranked], self.max_sentences, self.second_quote_ratio)
        citations = [_citation(n, s, score) for n, (s, score) in enumerate(chosen, start=1)]
        return Answer(question, quoted_text(citations), grounded=True, citations=citations, confidence=confidence)


def close_calls(
    ranked: Sequence[tuple[ScoredSentence, float]], max_sentences: int, ratio: float
) -> list[tuple[ScoredSentence, float]]:
    """The best sentence, plus runners-up the ranking finds nearly as likely to hold the answer.

    Scores are log-odds of a fitted ranking model, so ``exp(runner - best)`` is how likely a
    runner-up is relative to the best; a close call quotes both rather than guessing.
    """
    best = ranked[0]
    chosen = [best]
    for candidate in ranked[1:max_sentences]:
        if math.exp(candidate[1] - best[1]) < ratio:
            break
        chosen.append(candidate)
    return chosen


def quoted_text(citations: Sequence[Citation]) -> str:
    """Each quote once, whitespace collapsed, marked with its number."""
    return " ".join(f"{' '.join(c.passage.split())} [{c.n}]" for c in citations)


def _citation(n: int, sentence: ScoredSentence, score: float) -> Citation:
    return Citation(n, sentence.source, sentence.start, sentence.end, sentence.text, round(score, 4))


# --- the fitted models -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LinearModel:
    """``bias + Σ weight·feature`` over named features: a logit."""

    features: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float = 0.0

    def logit(self, values: dict[str, float]) -> float:
        return self.bias + sum(w * values[name] for name, w in zip(self.features, self.weights, strict=True))

    def probability(self, values: dict[str, float]) -> float:
        z = max(-50.0, min(50.0, self.logit(values)))
        return 1.0 / (1.0 + math.exp(-z))

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> LinearModel:
        weights = raw["weights"]
        return cls(tuple(weights), tuple(float(w) for w in weights.values()), float(raw.get("bias", 0.0)))


@dataclass(frozen=True, slots=True)
class AnswererModel:
    """What ``bench/fit_answerer.py`` fitted: the final ranking, answerability, short answers."""

    rank: LinearModel
    answerable: LinearModel
    answer_threshold: float
    short_answer_threshold: float
    candidates: int
    quantized: bool = False

    @classmethod
    def load(cls, path: Path | None = None) -> AnswererModel:
        raw = json.loads((path or DATA_DIR / ANSWERER_FILE).read_text(encoding="utf-8"))
        return cls(
            rank=LinearModel.from_json(raw["rank"]),
            answerable=LinearModel.from_json(raw["answerable"]),
            answer_threshold=float(raw["answer_threshold"]),
            short_answer_threshold=float(raw["short_answer_threshold"]),
            candidates=int(raw["candidates"]),
            quantized=bool(raw.get("quantized", False)),
        )


@dataclass(frozen=True, slots=True)
class Candidate:
    """A first-stage sentence with the reader's verdict and the final ranking score."""

    sentence: ScoredSentence
    verdict: ReaderScore
    score: float


def rank_features(sentence: ScoredSentence, verdict: ReaderScore) -> dict[str, float]:
    """What the final ranking weighs: the reader's logit and the first-stage evidence."""
    return {
        "select": verdict.select,
        "stage1": sentence.score,
        "dense": sentence.dense,
        "window_bg": sentence.window_bg,
        "passage": sentence.passage,
    }


def answerable_features(ranked: Sequence[Candidate], missing: float, question: str = "") -> dict[str, float]:
    """What decides whether the story answers: how sure the reader is of the best sentence, how
    far it stands above the rest, its span, question words the collection never uses, and
    whether the best sentence and span hold the kind of thing asked for (a date for "when"...):
    a topical sentence without one is the usual look of a question the story doesn't answer."""
    best = ranked[0]
    runner = ranked[1].score if len(ranked) > 1 else best.score - 10.0
    kind = expected_answer_type(question)
    span = best.sentence.text[best.verdict.span_start : best.verdict.span_end]
    return {
        "select": best.verdict.select,
        "score": best.score,
        "margin": min(10.0, best.score - runner),
        "span": max(-20.0, best.verdict.span_score),
        "dense": best.sentence.dense,
        "coverage": best.sentence.window_bg,
        "missing": missing,
        "lexical": best.sentence.lexical_bg,
        "typed": float(kind is not None),
        "sentence_type": best.sentence.answer_type,
        "span_type": float(has_answer_type(kind, span, set(words(question)))),
    }


# --- the answerer ------------------------------------------------------------------------------


class ReaderAnswerer:
    """First stage, then the learned reader over its best candidates; see the module docstring."""

    def __init__(
        self,
        vectors: SentenceVectors,
        weights: SentenceWeights,
        reader: SentenceReader,
        model: AnswererModel,
        max_sentences: int = 2,
        second_quote_ratio: float = 0.3,
    ) -> None:
        self.vectors = vectors
        self.weights = weights
        self.reader = reader
        self.model = model
        self.max_sentences = max_sentences
        self.second_quote_ratio = second_quote_ratio

    def rank(self, question: str, retrieval: Retrieval) -> list[Candidate]:
        """The reader's candidates, best first by the final ranking score."""
        first = score_sentences(retrieval, question, self.vectors, self.weights)[: self.model.candidates]
        verdicts = self.reader.score(question, [s.text for s in first])
        ranked = [
            Candidate(s, v, self.model.rank.logit(rank_features(s, v))) for s, v in zip(first, verdicts, strict=True)
        ]
        ranked.sort(key=lambda c: (-c.score, c.sentence.passage_rank, c.sentence.start))
        return ranked

    def answer(self, question: str, retrieval: Retrieval) -> Answer:
        if not retrieval.query_tokens:
            # Nothing but question words ("When?" with no conversation before it): any sentence
            # would be a guess at what was meant, so the reader need not read any.
            return Answer(question, NOT_IN_STORY, grounded=False)
        ranked = self.rank(question, retrieval)
        if not ranked:
            return Answer(question, NOT_IN_STORY, grounded=False)
        missing = question_words_missing(retrieval)
        confidence = self.model.answerable.probability(answerable_features(ranked, missing, question))
        best = ranked[0]
        if confidence < self.model.answer_threshold:
            related = [_citation(1, best.sentence, best.score)]
            return Answer(question, NOT_IN_STORY, grounded=False, related=related, confidence=round(confidence, 4))
        chosen = close_calls([(c.sentence, c.score) for c in ranked], self.max_sentences, self.second_quote_ratio)
        speaker = asks_for_speaker(question)
        citations = [
            attributed_citation(n, sentence, score, retrieval, speaker)
            for n, (sentence, score) in enumerate(chosen, start=1)
        ]
        short = self.short_answer(best)
        text = quoted_text(citations)
        if short is not None:
            text = f"{short.text} [1]\n{text}"
        return Answer(
            question, text, grounded=True, citations=citations, confidence=round(confidence, 4), short_answer=short
        )

    def short_answer(self, best: Candidate) -> ShortAnswer | None:
        """The reader's span in the best sentence, when it is sure enough and says less than the
        whole sentence; trimmed of surrounding punctuation, as an exact slice of the document."""
        verdict, sentence = best.verdict, best.sentence
        if math.exp(min(0.0, verdict.span_score)) < self.model.short_answer_threshold:
            return None
        start, end = trim_span(sentence.text, verdict.span_start, verdict.span_end)
        if end <= start or not any(ch.isalnum() for ch in sentence.text[start:end]):
            return None
        if end - start >= 0.9 * len(sentence.text):
            return None
        return ShortAnswer(sentence.text[start:end], sentence.source, sentence.start + start, sentence.start + end)


_TRIM = " \t\n\"'“”‘’.,;:!?()[]«»—–-"


def trim_span(text: str, start: int, end: int) -> tuple[int, int]:
    """``[start, end)`` without surrounding spaces and punctuation ("February 3," → "February 3"),
    keeping a closing bracket or quote whose opener is inside."""
    start, end = max(0, start), min(len(text), end)
    while start < end and text[start] in _TRIM:
        start += 1
    while end > start and text[end - 1] in _TRIM:
        if text[end - 1] == ")" and "(" in text[start : end - 1]:
            break
        end -= 1
    return start, end


def attributed_citation(
    n: int, sentence: ScoredSentence, score: float, retrieval: Retrieval, asks_speaker: bool
) -> Citation:
    """The sentence's citation, grown to the adjacent sentence naming the speaker when the quote
    needs one (:func:`bot.answering.attribution.speaker_neighbour`); one contiguous slice."""
    passage = retrieval.passages[sentence.passage_rank].passage
    sentences = passage_sentences(passage)
    index = next((i for i, s in enumerate(sentences) if s.id == sentence.id), None)
    neighbour = None if index is None else speaker_neighbour(sentences, index, asks_speaker)
    if index is None or neighbour is None:
        return _citation(n, sentence, score)
    start = min(sentences[index].start, sentences[neighbour].start)
    end = max(sentences[index].end, sentences[neighbour].end)
    text = passage.text[start - passage.start : end - passage.start]
    return Citation(n, sentence.source, start, end, text, round(score, 4))
