"""Checking a chat model's answer against the passages before anyone sees it.

The model's reply is untrusted text. An answer sentence (a *claim*) survives only if a passage it
cites really supports it: a supporting quote the model gave must be found verbatim in that passage
(whitespace, quote marks, dashes and ellipses may differ; the citation is then the exact source
span, never the model's copy), and a passage cited without a quote must share most of the claim's
content words with one of its sentences. Quotations inside the claim itself must be verbatim too.
Claims that fail are dropped; what is left is numbered ``[1]…[k]`` with exact-offset citations.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from bot.answering.data import Citation
from index.chunking import Passage, split_sentences
from index.text import tokenize

# Share of a claim's content words a sentence must hold to support it when the model cited the
# passage without quoting it (plain-text replies). High enough that an off-story sentence citing a
# random passage fails; low enough that a paraphrase of the sentence passes.
LEXICAL_SUPPORT = 0.5

_MARKER = re.compile(r"\[\s*(\d+(?:\s*[,;]\s*\d+)*)\s*\]")
_LEADING_MARKERS = re.compile(r"^(?:\s*\[\s*\d+(?:\s*[,;]\s*\d+)*\s*\])+")
_INLINE_QUOTE = re.compile(r"[“\"]([^“”\"]{3,}?)[”\"]")
_TERMINAL = re.compile(r"[.!?…]+[\"'”’)\]]*$")
_REFUSALS = (
    "doesn't say",
    "does not say",
    "not in the story",
    "doesn't mention",
    "does not mention",
    "no information",
    "not mentioned",
    "not stated",
    "don't say",
    "do not say",
)
_FOLD = str.maketrans(
    {
        "“": '"',
        "”": '"',
        "„": '"',
        "«": '"',
        "»": '"',
        "″": '"',
        "‘": "'",
        "’": "'",
        "‚": "'",
        "′": "'",
        "`": "'",
        "–": "-",
        "—": "-",
        "‐": "-",
        "‑": "-",
        "−": "-",
        "\u00a0": " ",
    }
)


@dataclass(frozen=True, slots=True)
class Quote:
    """Words the model says it copied from passage ``n``."""

    n: int
    text: str


@dataclass(frozen=True, slots=True)
class ModelReply:
    """A reply as the model gave it: nothing here has been checked yet."""

    answer: str
    cited: tuple[int, ...] = ()
    quotes: tuple[Quote, ...] = ()


@dataclass(frozen=True, slots=True)
class Claim:
    """One sentence of the model's answer, its ``[n]`` markers removed, with the passages cited."""

    text: str
    refs: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class VerifiedClaim:
    """A claim that survived, with the numbers of the citations that support it."""

    text: str
    citations: tuple[int, ...]

    def rendered(self) -> str:
        """The claim with its markers before the final punctuation: ``… February 3 [1].``"""
        marks = "".join(f"[{n}]" for n in self.citations)
        end = _TERMINAL.search(self.text)
        if end is None:
            return f"{self.text} {marks}"
        return f"{self.text[: end.start()]} {marks}{self.text[end.start() :]}"


@dataclass(frozen=True, slots=True)
class VerifiedReply:
    """What is left of a reply after verification."""

    claims: list[VerifiedClaim]
    citations: list[Citation]
    total_claims: int
    refused: bool = False

    @property
    def text(self) -> str:
        return " ".join(claim.rendered() for claim in self.claims)


@dataclass(slots=True)
class _Numbering:
    """Citation numbers in order of first use, one per distinct source span."""

    by_span: dict[tuple[str, int, int], int] = field(default_factory=dict)
    citations: list[Citation] = field(default_factory=list)

    def number(self, source: str, start: int, end: int, text: str, score: float) -> int:
        key = (source, start, end)
        if key not in self.by_span:
            self.by_span[key] = len(self.citations) + 1
            self.citations.append(Citation(self.by_span[key], source, start, end, text, round(score, 4)))
        return self.by_span[key]


# --- reading the reply -------------------------------------------------------------------------


def reply_from_data(data: object) -> ModelReply | None:
    """A reply from structured output (a dict), tolerant of numbers sent as strings."""
    if not isinstance(data, Mapping) or not isinstance(data.get("answer"), str):
        return None
    cited = tuple(n for n in (_as_int(v) for v in _as_list(data.get("citations"))) if n is not None)
    quotes = []
    for item in _as_list(data.get("quotes")):
        if isinstance(item, Mapping) and isinstance(item.get("quote"), str):
            n = _as_int(item.get("n"))
            if n is not None:
                quotes.append(Quote(n, item["quote"]))
    return ModelReply(data["answer"].strip(), cited, tuple(quotes))


def parse_reply_text(text: str) -> ModelReply | None:
    """A reply from plain text: the JSON object the prompt asks for, or failing that prose with
    ``[n]`` markers. Text that starts out as JSON but does not parse is garbage, not prose."""
    stripped = _strip_code_fence(text.strip())
    if stripped.startswith("{"):
        try:
            return reply_from_data(json.loads(stripped[: stripped.rfind("}") + 1]))
        except ValueError:
            return None
    if not any(ch.isalnum() for ch in stripped):
        return None
    return ModelReply(stripped)


def _strip_code_fence(text: str) -> str:
    match = re.fullmatch(r"```[a-zA-Z]*\s*(.*?)\s*```", text, flags=re.DOTALL)
    return match.group(1) if match else text


def _as_list(value: object) -> list[object]:
    return list(value) if isinstance(value, list | tuple) else []


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def split_claims(answer: str) -> list[Claim]:
    """The answer's sentences with the ``[n]`` markers they carry; markers opening a sentence
    ("… February 3. [1] He …") belong to the sentence before it."""
    claims: list[Claim] = []
    for span in split_sentences(answer):
        sentence = answer[span.start : span.end]
        leading = _LEADING_MARKERS.match(sentence)
        if leading and claims:
            claims[-1] = Claim(claims[-1].text, _unique(claims[-1].refs + _marker_refs(leading.group(0))))
            sentence = sentence[leading.end() :]
        text = strip_markers(sentence)
        if any(ch.isalnum() for ch in text):
            claims.append(Claim(text, _marker_refs(sentence)))
    return claims


def _marker_refs(text: str) -> tuple[int, ...]:
    return _unique(int(n) for m in _MARKER.finditer(text) for n in re.findall(r"\d+", m.group(1)))


def strip_markers(text: str) -> str:
    """Text without ``[n]`` markers or the space they leave before punctuation."""
    text = re.sub(r"\s+", " ", _MARKER.sub("", text)).strip()
    return re.sub(r"\s+([.,;:!?])", r"\1", text)


def _unique(values: Iterable[int]) -> tuple[int, ...]:
    return tuple(dict.fromkeys(values))


def is_refusal(answer: str) -> bool:
    """The model said the story does not answer the question."""
    folded = answer.translate(_FOLD).lower()
    return any(phrase in folded for phrase in _REFUSALS)


# --- aligning quotes to exact source spans -----------------------------------------------------


def _normalized(text: str) -> tuple[str, list[int]]:
    """``text`` without quote marks or apostrophes, dashes unified, "…" spelled "...", and whitespace
    runs made one space; ``positions[i]`` is the offset in ``text`` of normalized character ``i``.
    Dropping quote marks lets ``a real threat`` match ``a “real threat”``: the words still have to
    be the same words in the same order."""
    chars: list[str] = []
    positions: list[int] = []
    for i, ch in enumerate(text.translate(_FOLD)):
        if ch in "\"'":
            continue
        if ch.isspace():
            if chars and chars[-1] == " ":
                continue
            ch = " "
        for piece in "..." if ch == "…" else ch:
            chars.append(piece)
            positions.append(i)
    return "".join(chars), positions


def _quote_pieces(quote: str) -> list[str]:
    """The parts of a quote to find in order: models mark elisions with "..." and wrap quotes in
    quote marks; neither is part of the source."""
    folded, _ = _normalized(quote)
    pieces = [p.strip() for p in re.split(r"\s*\.\.\.+\s*", folded.strip())]
    return [p for p in pieces if p]


def align_quote(quote: str, text: str) -> tuple[int, int] | None:
    """The exact span of ``text`` that ``quote`` copies, or None when it is not in there."""
    pieces = _quote_pieces(quote)
    if not pieces or not tokenize(" ".join(pieces)):  # "the" is in every passage: not evidence
        return None
    haystack, positions = _normalized(text)
    cursor, first = 0, -1
    for piece in pieces:
        found = haystack.find(piece, cursor)
        if found < 0:
            return None
        first = found if first < 0 else first
        cursor = found + len(piece)
    return positions[first], positions[cursor - 1] + 1


def sentence_span(text: str, start: int, end: int) -> tuple[int, int]:
    """Widen ``[start, end)`` to the whole sentence(s) of ``text`` it touches: a citation reads as
    a quotation, not a fragment."""
    touching = [s for s in split_sentences(text) if s.start < end and start < s.end]
    if not touching:
        return start, end
    return min(start, touching[0].start), max(end, touching[-1].end)


# --- verification ------------------------------------------------------------------------------


def verify_reply(reply: ModelReply, passages: Sequence[Passage], scores: Sequence[float] = ()) -> VerifiedReply:
    """Keep the claims a cited passage supports; number their citations ``1..k``."""
    quoted = _quoted_spans(reply.quotes, passages)
    claims = split_claims(reply.answer)
    if not any(c.refs for c in claims) and is_refusal(reply.answer):
        return VerifiedReply([], [], len(claims), refused=True)  # quotes attached to a refusal prove nothing
    if claims and not any(c.refs for c in claims):
        # No markers at all: the whole answer is one claim resting on the passages it lists.
        claims = [Claim(strip_markers(reply.answer), _unique([*reply.cited, *(q.n for q in reply.quotes)]))]
    numbering = _Numbering()
    kept = [
        verified
        for claim in claims
        if (verified := _verify_claim(claim, passages, quoted, scores, numbering)) is not None
    ]
    refused = not kept and is_refusal(reply.answer)
    return VerifiedReply(kept, numbering.citations, len(claims), refused)


def _quoted_spans(quotes: Sequence[Quote], passages: Sequence[Passage]) -> dict[int, list[tuple[int, int]]]:
    """For each passage number the model quoted: the sentence spans (offsets within the passage
    text) its quotes align to. A number whose quotes all fail maps to an empty list."""
    spans: dict[int, list[tuple[int, int]]] = {}
    for quote in quotes:
        found = spans.setdefault(quote.n, [])
        if not 1 <= quote.n <= len(passages):
            continue
        text = passages[quote.n - 1].text
        aligned = align_quote(quote.text, text)
        if aligned is not None and (span := sentence_span(text, *aligned)) not in found:
            found.append(span)
    return spans


def _verify_claim(
    claim: Claim,
    passages: Sequence[Passage],
    quoted: Mapping[int, list[tuple[int, int]]],
    scores: Sequence[float],
    numbering: _Numbering,
) -> VerifiedClaim | None:
    support: list[tuple[int, tuple[int, int]]] = []
    for n in claim.refs:
        if not 1 <= n <= len(passages):
            continue
        text = passages[n - 1].text
        spans = _closest(claim.text, quoted[n], text) if n in quoted else _lexical_support(claim.text, text)
        support.extend((n, span) for span in spans)
    if not support or not _inline_quotes_verbatim(claim.text, [passages[n - 1] for n, _ in support]):
        return None
    numbers = []
    for n, (start, end) in support:
        p = passages[n - 1]
        score = scores[n - 1] if n - 1 < len(scores) else 0.0
        numbers.append(numbering.number(p.source, p.start + start, p.start + end, p.text[start:end], score))
    return VerifiedClaim(claim.text, _unique(numbers))


def _closest(claim: str, spans: list[tuple[int, int]], text: str) -> list[tuple[int, int]]:
    """Of several quotes from one passage, those sharing the most words with the claim (all of
    them when none shares any): a claim cites what supports it, not everything quoted nearby."""
    wanted = set(tokenize(claim))
    shared = [len(wanted & set(tokenize(text[start:end]))) for start, end in spans]
    best = max(shared, default=0)
    return [span for span, count in zip(spans, shared, strict=True) if count == best]


def _lexical_support(claim: str, text: str) -> list[tuple[int, int]]:
    """The passage sentence sharing the most of the claim's content words, if it shares enough."""
    wanted = set(tokenize(claim))
    if not wanted:
        return []
    best, best_share = None, 0.0
    for span in split_sentences(text):
        share = len(wanted & set(tokenize(text[span.start : span.end]))) / len(wanted)
        if share > best_share:
            best, best_share = span, share
    return [(best.start, best.end)] if best is not None and best_share >= LEXICAL_SUPPORT else []


def _inline_quotes_verbatim(claim: str, supporting: Sequence[Passage]) -> bool:
    """Words the answer puts in quotation marks must be in a passage supporting it."""
    return all(
        any(align_quote(match.group(1), p.text) is not None for p in supporting)
        for match in _INLINE_QUOTE.finditer(claim)
    )
