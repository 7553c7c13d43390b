"""The offline answerer: score the sentences of retrieved passages and quote the best.

Each sentence gets a few evidence features (semantic similarity, idf-weighted overlap with the
question in the sentence and around it, the rank of its passage, whether it holds the kind of
thing the question asks for). A linear score ranks sentences; a logistic model over the best
sentence's evidence decides whether the story answers at all. Both sets of weights come from
data (``bench/calibrate.py``), not from hand-tuning on single questions.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np

from index.chunking import Sentence, passage_sentences
from index.retriever import KeywordIndex, Retrieval
from index.text import background_idf, question_tokens, tokenize, words


@dataclass(frozen=True, slots=True)
class SentenceWeights:
    """Weights of the sentence ranking score."""

    dense: float = 1.0
    lexical: float = 1.0
    window: float = 0.3
    passage: float = 0.3
    answer_type: float = 0.3
    short: float = -0.5
    bigram: float = 0.3
    lexical_bg: float = 0.0
    window_bg: float = 0.0

    def vector(self) -> np.ndarray[Any, Any]:
        """Weights in the order of :data:`FEATURES`."""
        return np.array([getattr(self, name) for name in FEATURES], dtype=np.float64)


FEATURES = ("dense", "lexical", "window", "passage", "answer_type", "short", "bigram", "lexical_bg", "window_bg")


@dataclass(frozen=True, slots=True)
class RefusalModel:
    """Logistic model: P(the story answers) from the best sentence's evidence."""

    bias: float
    w_dense: float
    w_coverage: float
    w_missing: float
    threshold: float = 0.5

    def probability(self, dense: float, coverage: float, missing: float) -> float:
        z = self.bias + self.w_dense * dense + self.w_coverage * coverage + self.w_missing * missing
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


@dataclass(frozen=True, slots=True)
class ScoredSentence:
    """A candidate sentence with its offsets in the document and its evidence."""

    source: str
    start: int
    end: int
    text: str
    passage_rank: int
    dense: float
    lexical: float
    window: float
    passage: float
    answer_type: float
    short: float
    bigram: float
    lexical_bg: float
    window_bg: float
    score: float
    id: str = ""

    def features(self) -> list[float]:
        """Evidence values in the order of :data:`FEATURES`."""
        return [getattr(self, name) for name in FEATURES]


# --- answer types ------------------------------------------------------------------------------

_MONTHS = "january february march april may june july august september october november december"
_DAYS = "monday tuesday wednesday thursday friday saturday sunday"
_DATE = re.compile(
    r"\b(?:"
    + "|".join((_MONTHS + " " + _DAYS).split())
    + r"|(?:1[0-9]|20)\d\d s?|\d{1,2}(?:st|nd|rd|th)"
    r"|yesterday|today|tomorrow|tonight|(?:last|next|this|previous|coming) (?:week|month|year|weekend)"
    r"|century|centuries|decade|ago|morning|evening|afternoon|night|spring|summer|autumn|fall|winter"
    r"|\d{1,2}:\d\d|(?:a|p)\.?m\.?)\b".replace(" s?", "s?"),
    re.IGNORECASE,
)
_NUMBER = re.compile(
    r"\b(?:\d[\d,.]*|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty"
    r"|forty|fifty|hundred|thousand|million|billion|dozen|half|percent|an? (?:hour|minute|day|week|month|year)"
    r"|hours|minutes|seconds|days|weeks|months|years)\b",
    re.IGNORECASE,
)
_CAPITALIZED = re.compile(r"(?<!^)(?<![.!?]\s)\b[A-Z][\w’'-]+")
# A locative phrase: "at the White House", "in Bogotá", "near Lake Geneva".
_PLACE = re.compile(r"\b(?:in|at|near|outside|inside|across|into|throughout|within)\s+(?:the\s+)?[A-Z][\w’'-]+")


def expected_answer_type(question: str) -> str | None:
    """The kind of thing a question asks for, from its wh-phrase."""
    q = " ".join(words(question))
    if re.search(r"\b(when|what (year|date|day|month|time|century|decade)|how long ago)\b", q):
        return "date"
    if re.search(r"\b(how (many|much|long|old|far|big|large|tall|often)|what (percentage|number|amount))\b", q):
        return "number"
    if re.search(r"\b(who|whom|whose|which (person|people|leader|president|company|organi[sz]ation))\b", q):
        return "name"
    if re.search(r"\bwhere\b", q):
        return "place"
    return None


def has_answer_type(kind: str | None, sentence: str, asked: set[str]) -> bool:
    """Whether the sentence contains something of the expected kind that the question (whose
    words are ``asked``) lacks."""
    if kind is None:
        return False
    pattern = {"date": _DATE, "number": _NUMBER, "name": _CAPITALIZED, "place": _PLACE}[kind]
    return any(set(words(m.group(0))) - asked for m in pattern.finditer(sentence))


def is_heading(sentence: str) -> bool:
    """A title line rather than a statement: a few words and no closing punctuation.

    Headings still count as context around their neighbours, but quoting one answers nothing.
    """
    return len(sentence.split()) < 6 and sentence.rstrip("\"'”’)")[-1:] not in ".!?…"


# --- features ----------------------------------------------------------------------------------


def _weighted_overlap(question_terms: dict[str, float], terms: set[str]) -> float:
    total = sum(question_terms.values())
    if total <= 0:
        return 0.0
    return sum(w for t, w in question_terms.items() if t in terms) / total


def _bigrams(tokens: list[str]) -> set[tuple[str, str]]:
    return set(pairwise(tokens))


def bigram_overlap(question_bigrams: set[tuple[str, str]], tokens: list[str]) -> float:
    """Share of the question's adjacent word pairs that the sentence repeats: phrase matches."""
    if not question_bigrams:
        return 0.0
    return len(question_bigrams & _bigrams(tokens)) / len(question_bigrams)


def question_term_weights(tokens: list[str], keywords: KeywordIndex) -> dict[str, float]:
    """Each distinct question term with its idf in the collection: rare words carry the question."""
    return {t: keywords.idf(t) for t in dict.fromkeys(tokens)}


def background_term_weights(tokens: list[str]) -> dict[str, float]:
    """Each distinct question term weighted by how rare it is in general English."""
    return {t: background_idf(t) for t in dict.fromkeys(tokens)}


def missing_mass(question_terms: dict[str, float], keywords: KeywordIndex) -> float:
    """Share of the question's weight in words the collection never uses at all."""
    total = sum(question_terms.values())
    if total <= 0:
        return 0.0
    return sum(w for t, w in question_terms.items() if not keywords.knows(t)) / total


def question_words_missing(retrieval: Retrieval) -> float:
    """:func:`missing_mass` of a retrieval's question, its words weighted by general rarity: the
    refusal evidence every answerer (and the benches that fit them) reads."""
    return missing_mass(background_term_weights(retrieval.query_tokens), retrieval.keywords)


SentenceVectors = Callable[[Sequence[Sentence]], np.ndarray[Any, Any]]


def score_sentences(
    retrieval: Retrieval,
    question: str,
    vectors: SentenceVectors,
    weights: SentenceWeights,
) -> list[ScoredSentence]:
    """Every sentence of the retrieved passages, scored, best first (each sentence once).

    ``vectors`` gives the sentences' unit vectors (stored at index time; see
    :meth:`index.store.PassageStore.sentence_vectors`).
    """
    if not retrieval.passages:
        return []
    terms = question_term_weights(retrieval.query_tokens, retrieval.keywords)
    general = background_term_weights(retrieval.query_tokens)
    kind = expected_answer_type(question)
    asked = set(words(question))
    question_bigrams = _bigrams(question_tokens(question))
    top_score = retrieval.passages[0].score or 1.0
    seen: set[str] = set()
    rows: list[tuple[Sentence, int, float, float, float, float, float, float]] = []
    for rank, hit in enumerate(retrieval.passages):
        sentences = passage_sentences(hit.passage)
        token_lists = [tokenize(s.text) for s in sentences]
        token_sets = [set(tokens) for tokens in token_lists]
        for i, sentence in enumerate(sentences):
            if sentence.id in seen or is_heading(sentence.text):
                continue
            seen.add(sentence.id)
            around = token_sets[i].union(*token_sets[max(0, i - 1) : i + 2])
            rows.append(
                (
                    sentence,
                    rank,
                    _weighted_overlap(terms, token_sets[i]),
                    _weighted_overlap(terms, around),
                    hit.score / top_score,
                    bigram_overlap(question_bigrams, token_lists[i]),
                    _weighted_overlap(general, token_sets[i]),
                    _weighted_overlap(general, around),
                )
            )
    if not rows:
        return []
    matrix = vectors([row[0] for row in rows])
    dense = np.asarray(matrix, dtype=np.float32) @ np.asarray(retrieval.query_vector, dtype=np.float32)
    scored = []
    for row, similarity in zip(rows, dense.tolist(), strict=True):
        sentence, rank, lexical, window, passage, bigram, lexical_bg, window_bg = row
        text = sentence.text
        typed = 1.0 if has_answer_type(kind, text, asked) else 0.0
        short = 1.0 if len(text.split()) < 5 else 0.0
        evidence = {
            "dense": similarity,
            "lexical": lexical,
            "window": window,
            "passage": passage,
            "answer_type": typed,
            "short": short,
            "bigram": bigram,
            "lexical_bg": lexical_bg,
            "window_bg": window_bg,
        }
        score = float(np.dot([evidence[name] for name in FEATURES], weights.vector()))
        scored.append(
            ScoredSentence(
                sentence.source, sentence.start, sentence.end, text, rank, score=score, id=sentence.id, **evidence
            )
        )
    scored.sort(key=lambda s: (-s.score, s.passage_rank, s.start))
    return scored
