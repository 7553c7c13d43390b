"""Sentence splitting and passage chunking that keep exact character offsets.

Every span produced here indexes into the loaded document text, so a citation can always be
checked with ``text[start:end] == passage``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass

# Words that end with a period without ending a sentence.
_ABBREVIATIONS = frozenset(
    """mr mrs ms dr prof sr jr st mt gen col lt sgt capt gov sen
    rep rev hon pres supt inc ltd co corp jan feb mar apr jun jul aug
    sep sept oct nov dec no vs etc fig al approx dept est univ ave blvd
    rd""".split()
)
_TERMINATOR = re.compile(r"[.!?…]+[\"'”’»)\]]*")
_CLOSERS = "\"'”’»)]"


@dataclass(frozen=True, slots=True)
class Span:
    """A half-open character range ``[start, end)`` of a document's text."""

    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Passage:
    """A chunk of a document, with its offsets and a stable id.

    ``sentences`` are the sentence spans the chunker packed into it, relative to ``text``; empty
    for passages read from an index written before sentences were recorded.
    """

    id: str
    source: str
    start: int
    end: int
    text: str
    sentences: tuple[Span, ...] = ()


@dataclass(frozen=True, slots=True)
class Sentence:
    """One sentence of a document, with its offsets and a stable id (its vector is stored too)."""

    id: str
    source: str
    start: int
    end: int
    text: str


def _is_abbreviation(text: str, dot: int) -> bool:
    """True when the period at ``dot`` closes an abbreviation or an initial, not a sentence."""
    match = re.search(r"([A-Za-z][A-Za-z.]*)$", text[max(0, dot - 12) : dot])
    if not match:
        return False
    word = match.group(1)
    if "." in word:  # U.S. / a.m. / e.g.
        return True
    if len(word) == 1 and word.isupper():  # an initial: "J. Smith"
        return True
    return word.lower() in _ABBREVIATIONS


def _strip(text: str, start: int, end: int) -> Span | None:
    """Shrink a range to exclude surrounding whitespace; None when nothing is left."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return Span(start, end) if end > start else None


def _is_soft_break(text: str, newline: int) -> bool:
    """A single line break inside a sentence (hard-wrapped text): the line before has no closing
    punctuation and the line after goes on in lower case. Headings and paragraphs stay apart."""
    # Scan from the break instead of slicing the text: slices copy the rest of the document at
    # every line break, which made chunking quadratic (minutes for a few MB, hours for 50 MB).
    last = newline - 1
    while last >= 0 and text[last] in " \t":
        last -= 1
    following = newline + 1
    while following < len(text) and text[following] in " \t":
        following += 1
    if last < 0 or following >= len(text) or text[following] == "\n":
        return False
    return text[last] not in ".!?:;…\"”'’" and text[following].islower()


def _line_ranges(text: str) -> Iterator[tuple[int, int]]:
    """Ranges of logical lines: a line break ends a sentence (headings, bullets, paragraphs)
    unless it only wraps a sentence onto the next line."""
    start = 0
    for match in re.finditer(r"\n", text):
        if _is_soft_break(text, match.start()):
            continue
        yield start, match.start()
        start = match.end()
    yield start, len(text)


def _sentence_ends(text: str, start: int, end: int) -> Iterator[int]:
    """Offsets just past each sentence terminator in ``text[start:end]``."""
    for match in _TERMINATOR.finditer(text, start, end):
        stop = match.end()
        following = text[stop : stop + 2]
        if stop < end and not following[:1].isspace():
            continue  # "3.5", "U.S.A", "example.com": no space, no sentence end
        single_period = match.group(0).rstrip(_CLOSERS) == "."
        if single_period and _is_abbreviation(text, match.start()):
            continue
        next_char = following.strip()[:1]
        if next_char and next_char.islower():
            continue  # "... said Mr. X. and then" / ellipsis mid-sentence
        yield stop


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[Span]:
    """Split ``text[start:end]`` into sentence spans, without whitespace at either side."""
    end = len(text) if end is None else end
    spans: list[Span] = []
    for line_start, line_end in _line_ranges(text[start:end]):
        line_start += start
        line_end += start
        cursor = line_start
        for stop in _sentence_ends(text, line_start, line_end):
            span = _strip(text, cursor, stop)
            if span:
                spans.append(span)
            cursor = stop
        span = _strip(text, cursor, line_end)
        if span:
            spans.append(span)
    return spans


def _split_long(text: str, span: Span, max_chars: int) -> Iterator[Span]:
    """Cut a sentence longer than ``max_chars`` at whitespace (or hard, if it has none)."""
    start = span.start
    while span.end - start > max_chars:
        cut = text.rfind(" ", start + max_chars // 2, start + max_chars)
        cut = cut if cut > start else start + max_chars
        piece = _strip(text, start, cut)
        if piece:
            yield piece
        start = cut
    piece = _strip(text, start, span.end)
    if piece:
        yield piece


def passage_id(source: str, start: int, end: int, text: str) -> str:
    """A stable id: the same document chunked the same way always gets the same ids."""
    digest = hashlib.sha256(f"{source}\x00{start}\x00{end}\x00{text}".encode()).hexdigest()
    return digest[:32]


def sentence_id(source: str, start: int, end: int, text: str) -> str:
    """A stable id for a sentence; the prefix keeps it apart from passage ids."""
    return "s" + passage_id(source, start, end, text)[1:]


def passage_sentences(passage: Passage) -> list[Sentence]:
    """The sentences of a passage, with document offsets: those the chunker recorded, or (for an
    older index) the passage text split again."""
    spans = passage.sentences or tuple(split_sentences(passage.text))
    out = []
    for span in spans:
        start, end = passage.start + span.start, passage.start + span.end
        text = passage.text[span.start : span.end]
        out.append(Sentence(sentence_id(passage.source, start, end, text), passage.source, start, end, text))
    return out


def encode_spans(spans: tuple[Span, ...]) -> str:
    """Sentence spans as compact text for a metadata field: ``"0-120,121-300"``."""
    return ",".join(f"{s.start}-{s.end}" for s in spans)


def decode_spans(value: object) -> tuple[Span, ...]:
    """The inverse of :func:`encode_spans`; anything unreadable gives no spans (split again)."""
    if not isinstance(value, str) or not value:
        return ()
    try:
        pairs = [part.split("-") for part in value.split(",")]
        return tuple(Span(int(a), int(b)) for a, b in pairs)
    except ValueError:
        return ()


def chunk_document(source: str, text: str, max_chars: int = 800, overlap_sentences: int = 1) -> list[Passage]:
    """Pack whole sentences into passages of at most ``max_chars`` characters.

    Consecutive passages share ``overlap_sentences`` sentences so that an answer that straddles a
    boundary is still retrievable in one piece.
    """
    units = [piece for s in split_sentences(text) for piece in _split_long(text, s, max_chars)]
    passages: list[Passage] = []
    first = 0
    while first < len(units):
        last = first
        while last + 1 < len(units) and units[last + 1].end - units[first].start <= max_chars:
            last += 1
        start, end = units[first].start, units[last].end
        body = text[start:end]
        spans = tuple(Span(u.start - start, u.end - start) for u in units[first : last + 1])
        passages.append(Passage(passage_id(source, start, end, body), source, start, end, body, spans))
        if last + 1 >= len(units):
            break
        first = max(first + 1, last + 1 - overlap_sentences)
    return passages
