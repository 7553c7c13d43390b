"""Cited summaries of a story: tl;dr, key points, timeline, who's who and key quotes.

Everything here is extractive and offline: each line is built from sentences of the documents,
and each ``[n]`` points at a :class:`~bot.answering.data.Citation` whose passage is an exact slice of its
document's text. :func:`verify_summary` checks that before a summary leaves this module, so a
later rewriting step (an LLM) is held to the same rule. No Discord, no Chroma, no model: the CLI
summarizes files directly and the service passes in the documents of a collection.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from bot.answering.data import Citation, Summary, SummaryLine
from bot.errors import CitationError
from bot.summaries.dates import TimeMention, describe, find_anchor, mentions_in_sentence
from bot.summaries.entities import Entity, describing_mention, find_entities
from bot.summaries.quotes import QuotedPassage, is_notable, quoted_passages
from bot.summaries.salience import (
    Candidate,
    RankedDocument,
    Sentence,
    candidates,
    document_sentences,
    rank_document,
    select_diverse,
    story_order,
)
from index.errors import StoryBotError
from index.loaders import LoadedDocument

MODES = ("tldr", "key-points", "timeline", "who", "quotes")
_MODE_ALIASES = {"tl;dr": "tldr", "keypoints": "key-points", "key_points": "key-points", "points": "key-points"}
MIN_EVENT_WORDS = 4
NO_TIMELINE = "The story gives no dates or other time references to put on a timeline."
NO_PEOPLE = "The story names no people or organizations that could be recognized."
NO_QUOTES = "The story has no direct quotes."


class SummaryError(StoryBotError):
    """A summary cannot be made as asked: unknown mode, or nothing readable to summarize."""


@dataclass(frozen=True, slots=True)
class SummaryOptions:
    """How long each mode's summary may get."""

    tldr_sentences: int = 3
    min_key_points: int = 5
    max_key_points: int = 8
    max_timeline_events: int = 15
    max_entities: int = 12
    max_quotes: int = 10
    # tf-idf cosine above which two sentences count as saying the same thing.
    tldr_redundancy: float = 0.5
    key_point_redundancy: float = 0.3


def check_mode(mode: str) -> str:
    """The canonical mode name, or a SummaryError that lists the valid ones."""
    key = mode.strip().lower()
    key = _MODE_ALIASES.get(key, key)
    if key not in MODES:
        raise SummaryError(f"unknown summary mode {mode!r}; use one of: {', '.join(MODES)}.")
    return key


class CitationBook:
    """Numbers passages as they are cited; the same passage cited twice keeps its number."""

    def __init__(self) -> None:
        self.citations: list[Citation] = []
        self._numbers: dict[tuple[str, int, int], int] = {}

    def cite(self, source: str, start: int, end: int, passage: str, score: float = 0.0) -> int:
        key = (source, start, end)
        if key not in self._numbers:
            self._numbers[key] = len(self.citations) + 1
            self.citations.append(Citation(self._numbers[key], source, start, end, passage, round(score, 4)))
        return self._numbers[key]

    def cite_sentence(self, sentence: Sentence, score: float = 0.0) -> int:
        return self.cite(sentence.source, sentence.start, sentence.end, sentence.text, score)


def one_line(text: str) -> str:
    """A passage as one display line (hard-wrapped source text keeps its offsets in the citation)."""
    return " ".join(text.split())


def check_readable(document: LoadedDocument) -> None:
    """Refuse text that has no sentences a summary could quote (symbols, numbers, noise)."""
    letters = sum(ch.isalpha() for ch in document.text)
    visible = sum(not ch.isspace() for ch in document.text)
    if visible == 0 or letters < 20 or letters / visible < 0.5:
        raise SummaryError(f"{document.source}: no readable sentences to summarize (the text is mostly not words).")
    if not any(s.words >= 3 for s in document_sentences(document)):
        raise SummaryError(f"{document.source}: no sentences to summarize (nothing of three words or more).")


# --- modes ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Corpus:
    """The documents being summarized, with the per-document work every mode may share."""

    documents: list[LoadedDocument]
    ranked: list[RankedDocument]

    @property
    def sources(self) -> list[str]:
        return [d.source for d in self.documents]

    def salience(self) -> dict[tuple[str, int], float]:
        return {
            (s.source, s.start): score
            for doc in self.ranked
            for s, score in zip(doc.sentences, doc.scores, strict=True)
        }


def _sentence_lines(chosen: Sequence[Candidate], book: CitationBook) -> list[SummaryLine]:
    lines = []
    for c in chosen:
        n = book.cite_sentence(c.sentence, c.score)
        lines.append(SummaryLine(f"{one_line(c.sentence.text)} [{n}]", (n,)))
    return lines


def tldr_lines(corpus: Corpus, book: CitationBook, options: SummaryOptions) -> list[SummaryLine]:
    """The gist: the most salient sentences that do not repeat each other, in story order."""
    chosen = select_diverse(candidates(corpus.ranked), options.tldr_sentences, options.tldr_redundancy)
    return _sentence_lines(story_order(chosen, corpus.sources), book)


def key_point_count(prose_sentences: int, options: SummaryOptions) -> int:
    """5 to 8 points, more for longer stories (one per five sentences), never more than it has."""
    wanted = max(options.min_key_points, min(options.max_key_points, prose_sentences // 5))
    return min(wanted, prose_sentences)


def key_point_lines(corpus: Corpus, book: CitationBook, options: SummaryOptions) -> list[SummaryLine]:
    """Distinct facts: salient sentences with a stricter redundancy bar than the tl;dr.

    A coverage bonus for sentences that add unseen story terms was tried and dropped: it moved
    points later in the story but lowered their ROUGE-2 recall of the CNN/DM highlights (the
    nearest thing to reference key points we have) from 33.8 to 29.3."""
    pool = candidates(corpus.ranked)
    chosen = select_diverse(pool, key_point_count(len(pool), options), options.key_point_redundancy)
    return _sentence_lines(story_order(chosen, corpus.sources), book)


@dataclass(frozen=True, slots=True)
class Event:
    """A sentence placed in time by its first time expression."""

    mention: TimeMention
    sentence: Sentence
    document: int
    salience: float


def document_events(index: int, document: LoadedDocument, ranked: RankedDocument) -> list[Event]:
    """One event per prose sentence that names a time, resolved against the story's own date."""
    anchor = find_anchor(document.text)
    scores = {s.start: score for s, score in zip(ranked.sentences, ranked.scores, strict=True)}
    events = []
    for sentence in document_sentences(document):
        if sentence.words < MIN_EVENT_WORDS or sentence.text[-1] not in ".!?”\"'’)":
            continue  # headings, bylines and "14:11 EST, 25 October 2013 ." stamps are not events
        mentions = mentions_in_sentence(sentence.text, sentence.start, anchor)
        if mentions:
            mention = next((m for m in mentions if m.ordered), mentions[0])
            events.append(Event(mention, sentence, index, scores.get(sentence.start, -10.0)))
    return events


def timeline_lines(corpus: Corpus, book: CitationBook, options: SummaryOptions) -> list[SummaryLine]:
    """Events in time order; those the story does not let us place follow in story order."""
    events = [e for i, doc in enumerate(corpus.documents) for e in document_events(i, doc, corpus.ranked[i])]
    if len(events) > options.max_timeline_events:
        kept = sorted(events, key=lambda e: -e.salience)[: options.max_timeline_events]
        events = [e for e in events if e in kept]
    placed = sorted(
        (e for e in events if e.mention.ordered), key=lambda e: (e.mention.sort_key, e.document, e.sentence.start)
    )
    unplaced = [e for e in events if not e.mention.ordered]
    lines = []
    for event in [*placed, *unplaced]:
        n = book.cite_sentence(event.sentence, event.salience)
        label = describe(event.mention) + ("" if event.mention.ordered else " (order uncertain)")
        lines.append(SummaryLine(f"{label} — {one_line(event.sentence.text)} [{n}]", (n,)))
    return lines or [SummaryLine(NO_TIMELINE)]


def corpus_entities(corpus: Corpus) -> list[Entity]:
    """Entities of every document; the same name in two documents is one entity."""
    merged: dict[tuple[str, str], Entity] = {}
    for document in corpus.documents:
        for entity in find_entities(document_sentences(document)):
            key = (entity.name, entity.kind)
            if key in merged:
                merged[key].mentions.extend(entity.mentions)
            else:
                merged[key] = Entity(entity.name, entity.kind, list(entity.mentions))
    order = {source: i for i, source in enumerate(corpus.sources)}
    return sorted(merged.values(), key=lambda e: (-len(e.mentions), order[e.first.sentence.source], e.first.start))


def who_lines(corpus: Corpus, book: CitationBook, options: SummaryOptions) -> list[SummaryLine]:
    """Each person or organization, most mentioned first, with the sentence that introduces them."""
    lines = []
    for entity in corpus_entities(corpus)[: options.max_entities]:
        sentence = describing_mention(entity).sentence
        n = book.cite_sentence(sentence, float(len(entity.mentions)))
        lines.append(SummaryLine(f"{entity.name} ({entity.kind}) — {one_line(sentence.text)} [{n}]", (n,)))
    return lines or [SummaryLine(NO_PEOPLE)]


def quote_line(passage: QuotedPassage, n: int) -> SummaryLine:
    quoted = " … ".join(f"“{one_line(q.words).rstrip(',')}”" for q in passage.quotes)
    speaker = passage.speaker or "unattributed"
    return SummaryLine(f"{quoted} — {speaker} [{n}]", (n,))


def quote_lines(corpus: Corpus, book: CitationBook, options: SummaryOptions) -> list[SummaryLine]:
    """Notable quotes with their speakers, in story order; the longest attributed ones when many."""
    salience = corpus.salience()
    notable: list[QuotedPassage] = []
    for document in corpus.documents:
        sentences = document_sentences(document)
        entities = find_entities(sentences)
        notable += [p for p in quoted_passages(document.source, document.text, sentences, entities) if is_notable(p)]
    if len(notable) > options.max_quotes:
        best = sorted(notable, key=lambda p: (p.speaker is None, -min(p.word_count, 40), p.start))
        keep = set(map(id, best[: options.max_quotes]))
        notable = [p for p in notable if id(p) in keep]
    lines = []
    texts = {d.source: d.text for d in corpus.documents}
    for passage in notable:
        score = salience.get((passage.source, passage.start), 0.0)
        n = book.cite(
            passage.source, passage.start, passage.end, texts[passage.source][passage.start : passage.end], score
        )
        lines.append(quote_line(passage, n))
    return lines or [SummaryLine(NO_QUOTES)]


_BUILDERS: dict[str, Callable[[Corpus, CitationBook, SummaryOptions], list[SummaryLine]]] = {
    "tldr": tldr_lines,
    "key-points": key_point_lines,
    "timeline": timeline_lines,
    "who": who_lines,
    "quotes": quote_lines,
}


# --- entry points ---------------------------------------------------------------------------------


def summarize_documents(
    documents: Sequence[LoadedDocument],
    mode: str,
    options: SummaryOptions | None = None,
    source: str | None = None,
) -> Summary:
    """Summarize documents together; ``source`` names the summary (None for a collection)."""
    mode = check_mode(mode)
    readable = [d for d in documents if d.text.strip()]
    if not readable:
        raise SummaryError("There is nothing to summarize: no document has any text.")
    for document in readable:
        check_readable(document)
    corpus = Corpus(list(readable), [rank_document(d) for d in readable])
    book = CitationBook()
    lines = _BUILDERS[mode](corpus, book, options or SummaryOptions())
    summary = Summary(mode, lines, book.citations, source)
    verify_summary(summary, {d.source: d.text for d in readable})
    return summary


def summarize_document(document: LoadedDocument, mode: str, options: SummaryOptions | None = None) -> Summary:
    """Summarize one document on its own; the summary's ``source`` is its file name."""
    return summarize_documents([document], mode, options, source=document.source)


_MARKER = re.compile(r"\[(\d+)\]")


def verify_summary(summary: Summary, texts: Mapping[str, str]) -> None:
    """Every citation is a verbatim slice of its source, and every ``[n]`` in a line exists."""
    numbers = {c.n for c in summary.citations}
    for c in summary.citations:
        text = texts.get(c.source)
        if text is None or not (0 <= c.start < c.end <= len(text)) or text[c.start : c.end] != c.passage:
            raise CitationError(f"citation [{c.n}] does not match {c.source} at {c.start}–{c.end}")
    for line in summary.lines:
        cited = {int(n) for n in _MARKER.findall(line.text)}
        if not cited <= numbers or not set(line.citations) <= numbers:
            raise CitationError(f"summary line cites a passage that does not exist: {line.text[:60]!r}")
