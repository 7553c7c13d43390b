"""Direct quotes and who said them.

A quote is text between quotation marks (curly or straight double quotes; single quotes as some
British papers use them, when they hold at least three words). Its passage is the sentence or
sentences it spans, so a quote broken across sentences ("“Come get me. I’m waiting,” Petro said")
stays whole. The speaker is found the way a reader finds it: the subject next to a speech verb
outside the quotation marks ("Trump said", "said Petro", "he added"), a pronoun meaning the person
last named before the quote.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.summaries.entities import ROLE_NOUNS, SPEECH_VERBS, Entity
from bot.summaries.salience import Sentence

_QUOTE_PATTERNS = (
    re.compile(r"“([^”]{1,1500}?)”"),
    re.compile(r"\"([^\"\n]{1,1500}?)\""),
    re.compile(r"(?<![\w’'])‘([^‘\n]{1,1500}?[\w.,!?])’(?![A-Za-z])"),
    re.compile(r"(?<![\w’'])'(?=[A-Za-z])([^'\n]{1,1500}?[\w.,!?])'(?![A-Za-z])"),
)
_SPEECH = SPEECH_VERBS | {"saying", "describing", "adding", "telling", "writing", "calling", "called"}
_PRONOUNS = frozenset({"he", "she"})
_FILLER = frozenset({"also", "later", "then", "has", "had", "have", "previously", "once", "even", "again", "simply"})
_WORD = re.compile(r"[A-Za-z’'\-]+")
# Who else "says" things in news: documents and institutions ("the complaint says").
SOURCE_NOUNS = frozenset(
    ("complaint", "report", "statement", "document", "study", "survey", "police", "prosecutor", "authoritie", "court")
)
_DETERMINERS = frozenset(("the", "a", "an", "his", "her", "their", "its"))


def _noun_phrase(words: list[str]) -> str:
    """The speaker phrase ending at a role noun: from its determiner ("the complaint"), else the
    last two words ("federal prosecutors")."""
    starts = [i for i, w in enumerate(words) if w.lower() in _DETERMINERS]
    return " ".join(words[starts[-1] :] if starts else words[-2:])


@dataclass(frozen=True, slots=True)
class Quote:
    """The words between a pair of quotation marks at ``start:end`` (marks included)."""

    start: int
    end: int
    words: str


@dataclass(frozen=True, slots=True)
class QuotedPassage:
    """The sentences ``start:end`` of a document holding one or more quotes, with their speaker."""

    source: str
    start: int
    end: int
    quotes: tuple[Quote, ...]
    speaker: str | None

    @property
    def word_count(self) -> int:
        return sum(len(q.words.split()) for q in self.quotes)


def find_quotes(text: str) -> list[Quote]:
    """Quotations in document order; a quote inside another is part of the outer one."""
    found: list[Quote] = []
    for pattern in _QUOTE_PATTERNS:
        for match in pattern.finditer(text):
            inner = match.group(1).strip()
            single = match.group(0)[0] in "'‘"
            if not inner or (single and len(inner.split()) < 3):
                continue
            if any(match.start() < q.end and q.start < match.end() for q in found):
                continue
            found.append(Quote(match.start(), match.end(), inner))
    return sorted(found, key=lambda q: q.start)


def _passages(source: str, quotes: list[Quote], sentences: Sequence[Sentence]) -> list[tuple[int, int, list[Quote]]]:
    """Group quotes by the run of sentences they span (quotes sharing a sentence share a line)."""
    starts = [s.start for s in sentences]
    groups: list[tuple[int, int, list[Quote]]] = []
    for quote in quotes:
        first = max(0, bisect.bisect_right(starts, quote.start) - 1)
        last = max(first, bisect.bisect_left(starts, quote.end) - 1)
        start, end = sentences[first].start, sentences[last].end
        if groups and start < groups[-1][1]:
            prev_start, prev_end, members = groups[-1]
            groups[-1] = (prev_start, max(prev_end, end), [*members, quote])
        else:
            groups.append((start, end, [quote]))
    return groups


def _blank_quotes(text: str, offset: int, quotes: Sequence[Quote]) -> str:
    """The passage with its quotations replaced by spaces: attribution lives outside them."""
    chars = list(text)
    for quote in quotes:
        for i in range(max(quote.start - offset, 0), min(quote.end - offset, len(chars))):
            chars[i] = " "
    return "".join(chars)


class SpeakerFinder:
    """Resolves the speaker of a passage from entity mentions and the nearest speech verb."""

    def __init__(self, entities: Sequence[Entity], quotes: Sequence[Quote]) -> None:
        spans = [(q.start, q.end) for q in quotes]
        self._names: list[tuple[int, int, str, str]] = sorted(
            (m.start, m.end, e.name, e.kind)
            for e in entities
            for m in e.mentions
            if not any(s <= m.start < t for s, t in spans)
        )
        self._people = [(start, name) for start, _, name, kind in self._names if kind == "person"]
        self._by_end = {end: name for _, end, name, _ in self._names}  # O(1) look-ups keep it linear
        self._by_start = {start: name for start, _, name, _ in self._names}

    def speaker(self, text: str, offset: int, quotes: Sequence[Quote]) -> str | None:
        """The speaker of ``text`` (a passage starting at document offset ``offset``)."""
        outside = _blank_quotes(text, offset, quotes)
        for verb in _WORD.finditer(outside):
            if verb.group(0).lower() not in _SPEECH:
                continue
            found = self._before(outside, offset, verb.start()) or self._after(offset, verb.end(), outside)
            if found:
                return found
        return None  # a name near a quote without a speech verb is as often its subject as its speaker

    def _before(self, outside: str, offset: int, verb_start: int) -> str | None:
        words = list(_WORD.finditer(outside[:verb_start]))
        while words and words[-1].group(0).lower() in _FILLER:
            words.pop()
        if not words:
            return None
        last = words[-1]
        if last.group(0).lower() in _PRONOUNS:
            return self._last_person_before(offset)
        named = self._name_ending_at(offset + last.end())
        if named:
            return named
        if last.group(0).lower().rstrip("s") in ROLE_NOUNS | SOURCE_NOUNS:
            return _noun_phrase([w.group(0) for w in words[-4:]])
        return None

    def _after(self, offset: int, verb_end: int, outside: str) -> str | None:
        following = _WORD.search(outside, verb_end)
        if following is None or following.start() - verb_end > 2:
            return None
        return self._name_starting_at(offset + following.start())

    def _name_ending_at(self, end: int) -> str | None:
        return self._by_end.get(end)

    def _name_starting_at(self, start: int) -> str | None:
        return self._by_start.get(start)

    def _last_person_before(self, position: int) -> str | None:
        index = bisect.bisect_left(self._people, (position, ""))
        return self._people[index - 1][1] if index > 0 else None


def quoted_passages(
    source: str, text: str, sentences: Sequence[Sentence], entities: Sequence[Entity]
) -> list[QuotedPassage]:
    """Every quoted passage of a document with its speaker (None when no one can be named)."""
    quotes = find_quotes(text)
    if not quotes or not sentences:
        return []
    finder = SpeakerFinder(entities, quotes)
    out = []
    for start, end, members in _passages(source, quotes, sentences):
        speaker = finder.speaker(text[start:end], start, members)
        out.append(QuotedPassage(source, start, end, tuple(members), speaker))
    return out


def is_notable(passage: QuotedPassage) -> bool:
    """A quote worth listing: someone said it, or it is long enough to be a statement in itself
    (a lone unattributed word in quotation marks is a scare quote)."""
    words = passage.word_count
    return words >= 2 and (passage.speaker is not None or words >= 8)
