"""Which sentences of a story matter: lexical salience in linear time, and diverse selection.

Every sentence gets a handful of cheap features (its position among the story's prose sentences,
its tf-idf similarity to the whole story and to what follows it, its length, whether it quotes
someone). A logistic model over those features, fitted on CNN/DailyMail articles by
``bench/summary_rouge.py --fit`` (never on the articles it is scored on), ranks them. Nothing
here embeds sentences: MiniLM reads about 50 sentences a second on the shared 2-core machine,
so a long document would take minutes, while sparse tf-idf vectors take milliseconds.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from index.chunking import Span, split_sentences
from index.loaders import LoadedDocument
from index.text import tokenize

# A sentence shorter than this is a byline, a caption stub or a heading, not a summary sentence.
MIN_PROSE_WORDS = 6
# "WASHINGTON (CNN) -- ": a dateline is not part of what the sentence says.
_DATELINE = re.compile(r"^[^()\n]{0,60}\((?:[A-Z][A-Za-z.]*\s?){1,3}\)\s*(?:--|—|–)\s*")
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
_QUOTE_MARK = re.compile(r"[\"“”]")

Vector = dict[str, float]


@dataclass(frozen=True, slots=True)
class Sentence:
    """A sentence of one document, with exact offsets (``text == document[start:end]``)."""

    source: str
    start: int
    end: int
    text: str
    index: int  # position among all sentences of its document
    words: int

    @property
    def is_prose(self) -> bool:
        """Long enough and punctuated like running text (headings and bylines are not)."""
        return self.words >= MIN_PROSE_WORDS and (self.text[-1] in ".!?”\"'’)" or self.words >= 12)


@dataclass(frozen=True, slots=True)
class SalienceWeights:
    """Logistic weights over :data:`FEATURES`, fitted by ``bench/summary_rouge.py --fit``."""

    bias: float = -2.3396
    lead: float = -1.1708
    log_rank: float = -1.1329
    relative_position: float = 0.1686
    centroid: float = 2.3488
    forward: float = 0.9743
    length: float = 0.9454
    short: float = -0.7301
    quote: float = -0.1522

    def coefficients(self) -> list[float]:
        return [getattr(self, name) for name in FEATURES]


FEATURES = ("lead", "log_rank", "relative_position", "centroid", "forward", "length", "short", "quote")


def _open_quote(text: str) -> bool:
    return text.count("“") > text.count("”") or text.count('"') % 2 == 1


def _close_quote(text: str) -> bool:
    return text.count("”") > text.count("“") or text.count('"') % 2 == 1


def quote_aware_spans(text: str) -> list[Span]:
    """Sentence spans, with a quotation that runs over several sentences kept in one span
    ("“Come get me. I’m waiting,” Petro said" is one statement, not two fragments)."""
    spans: list[Span] = []
    for span in split_sentences(text):
        if spans and _open_quote(text[spans[-1].start : spans[-1].end]) and _close_quote(text[span.start : span.end]):
            spans[-1] = Span(spans[-1].start, span.end)
        else:
            spans.append(span)
    return spans


def document_sentences(document: LoadedDocument) -> list[Sentence]:
    """The document's sentences, each trimmed of a leading news dateline."""
    out = []
    for index, span in enumerate(quote_aware_spans(document.text)):
        start = span.start
        dateline = _DATELINE.match(document.text, span.start, span.end)
        if dateline and dateline.end() < span.end:
            start = dateline.end()
        text = document.text[start : span.end]
        out.append(Sentence(document.source, start, span.end, text, index, len(_WORD.findall(text))))
    return out


def prose_sentences(sentences: Sequence[Sentence]) -> list[Sentence]:
    """Sentences a summary may quote; all of them when a document has no proper prose."""
    prose = [s for s in sentences if s.is_prose]
    return prose or [s for s in sentences if s.words > 0]


# --- sparse tf-idf vectors -----------------------------------------------------------------------


def tfidf_vectors(token_lists: Sequence[list[str]]) -> list[Vector]:
    """Unit tf-idf vectors, idf over the document's own sentences (no outside corpus needed)."""
    df: Counter[str] = Counter()
    for tokens in token_lists:
        df.update(set(tokens))
    n = len(token_lists)
    idf = {term: math.log((n + 1) / (count + 0.5)) for term, count in df.items()}
    vectors = []
    for tokens in token_lists:
        weights = {t: (1 + math.log(c)) * idf[t] for t, c in Counter(tokens).items()}
        norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
        vectors.append({t: w / norm for t, w in weights.items()})
    return vectors


def dot(a: Vector, b: Vector) -> float:
    """Sparse dot product, iterating over the smaller vector."""
    if len(a) > len(b):
        a, b = b, a
    return sum(w * b.get(t, 0.0) for t, w in a.items())


class RunningSum:
    """A sum of vectors that keeps its norm up to date, so each addition costs O(terms)."""

    def __init__(self) -> None:
        self.total: Vector = {}
        self._squares = 0.0

    def add(self, vector: Vector) -> None:
        for term, weight in vector.items():
            old = self.total.get(term, 0.0)
            self.total[term] = old + weight
            self._squares += (old + weight) ** 2 - old * old

    def cosine(self, vector: Vector) -> float:
        """Cosine with a unit vector; 0 for an empty sum."""
        norm = math.sqrt(max(self._squares, 0.0))
        return dot(vector, self.total) / norm if norm > 0 else 0.0


# --- features and scores ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RankedDocument:
    """A document's candidate sentences with their vectors, features and salience scores."""

    sentences: list[Sentence]
    vectors: list[Vector]
    features: list[list[float]]
    scores: list[float]


def sentence_features(sentences: Sequence[Sentence], vectors: Sequence[Vector]) -> list[list[float]]:
    """Feature rows in the order of :data:`FEATURES`; linear in the document's length.

    ``forward`` is how much the rest of the story elaborates on a sentence (similarity to the sum
    of the sentences after it): a directed centrality that, unlike pairwise graphs, needs no n².
    """
    centroid = RunningSum()
    for vector in vectors:
        centroid.add(vector)
    forward = [0.0] * len(vectors)
    after = RunningSum()
    for i in range(len(vectors) - 1, -1, -1):
        forward[i] = after.cosine(vectors[i])
        after.add(vectors[i])
    n = max(len(sentences), 1)
    rows = []
    for rank, (sentence, vector) in enumerate(zip(sentences, vectors, strict=True)):
        rows.append(
            [
                1.0 / (1 + rank),
                math.log1p(rank),
                rank / n,
                centroid.cosine(vector),
                forward[rank],
                min(sentence.words, 40) / 40,
                1.0 if sentence.words < 10 else 0.0,
                1.0 if _QUOTE_MARK.search(sentence.text) else 0.0,
            ]
        )
    return rows


def rank_document(document: LoadedDocument, weights: SalienceWeights | None = None) -> RankedDocument:
    """Score every prose sentence of a document by its salience (a logit, higher is better)."""
    sentences = prose_sentences(document_sentences(document))
    vectors = tfidf_vectors([tokenize(s.text) for s in sentences])
    features = sentence_features(sentences, vectors)
    coefficients = (weights or SalienceWeights()).coefficients()
    bias = (weights or SalienceWeights()).bias
    scores = [bias + sum(w * x for w, x in zip(coefficients, row, strict=True)) for row in features]
    return RankedDocument(sentences, vectors, features, scores)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A sentence with its vector and score, from any document of a collection."""

    sentence: Sentence
    vector: Vector
    score: float


def candidates(ranked: Iterable[RankedDocument]) -> list[Candidate]:
    return [
        Candidate(s, v, score)
        for doc in ranked
        for s, v, score in zip(doc.sentences, doc.vectors, doc.scores, strict=True)
    ]


def select_diverse(pool: Sequence[Candidate], k: int, max_similarity: float) -> list[Candidate]:
    """The best ``k`` candidates, skipping any too similar to one already chosen (O(n·k))."""
    chosen: list[Candidate] = []
    for candidate in sorted(pool, key=lambda c: (-c.score, c.sentence.source, c.sentence.start)):
        if any(dot(candidate.vector, other.vector) > max_similarity for other in chosen):
            continue
        chosen.append(candidate)
        if len(chosen) >= k:
            break
    return chosen


def story_order(chosen: Iterable[Candidate], sources: Sequence[str]) -> list[Candidate]:
    """Chosen sentences in the order the documents tell them."""
    position = {source: i for i, source in enumerate(sources)}
    return sorted(chosen, key=lambda c: (position.get(c.sentence.source, 0), c.sentence.start))
