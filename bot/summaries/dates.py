"""Time expressions in news text, resolved against the story's own date when it has one.

A story usually says when things happened relative to when it was written ("last week", "on
Thursday", "February 3"). When the document carries its publication date (a "Published: 25
October 2013" line or a date in its first lines) every expression resolves to a calendar date.
Without one, relative expressions still order among themselves around the story's "now", and the
tense of the sentence tells whether a bare "February 3" lies ahead or behind; what cannot be
placed keeps its story order and says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}
WEEKDAYS = {
    name: i for i, name in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))
}

_MONTH = (
    r"(?P<month>January|February|March|April|May|June|July|August|September|October|November|December"
    r"|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)\.?"
)
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>(?:1\d|20)\d\d)"
_UNITS = {"day": 1, "week": 7, "fortnight": 14, "month": 30, "year": 365, "decade": 3650}
_NUMBERS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "several": 3,
    "few": 3,
    "couple": 2,
}

# Ordered: the first pattern to match a stretch of text wins it.
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("day_month_year", re.compile(rf"\b{_DAY} (?:of )?{_MONTH},? {_YEAR}\b")),
    ("month_day_year", re.compile(rf"\b{_MONTH} {_DAY},? {_YEAR}\b")),
    ("month_day", re.compile(rf"\b{_MONTH} {_DAY}\b(?!,? \d)")),
    ("day_month", re.compile(rf"\b{_DAY} (?:of )?{_MONTH}\b")),
    ("month_year", re.compile(rf"\b{_MONTH},? {_YEAR}\b")),
    (
        "month",
        re.compile(rf"\b(?P<qual>(?i:in|last|next|this|early|late|mid-|since|until|by|during)) ?{_MONTH}\b(?! \d)"),
    ),
    (
        "year",
        re.compile(
            rf"\b(?i:in|since|by|until|during|from|of|early|late|mid-|summer|spring|autumn|winter) ?{_YEAR}\b"
            rf"(?![\d,]| ?(?:%|per ?cent|people|pounds|dollars|euros|miles|feet|metres|meters|tons|votes)\b)"
        ),
    ),
    (
        "weekday",
        re.compile(
            r"\b(?P<qual>last |this |next |on |since |until |by |early |late )?"
            r"(?P<weekday>Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)s?\b"
        ),
    ),
    (
        "ago",
        re.compile(
            r"\b(?P<count>\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten|several|a few|a couple of)"
            r" (?P<unit>day|week|fortnight|month|year|decade)s? (?P<dir>ago|earlier|later|before|from now)\b",
            re.IGNORECASE,
        ),
    ),
    (
        "relative",
        re.compile(
            r"\b(?P<rel>yesterday|today|tonight|tomorrow|(?:last|next|this|earlier this|later this)"
            r" (?:week|weekend|month|year|summer|spring|autumn|winter|season)"
            r"|the (?:previous|following|next) (?:day|week|month|year))\b",
            re.IGNORECASE,
        ),
    ),
)
_RELATIVE_DAYS = {
    "yesterday": -1.0,
    "today": 0.0,
    "tonight": 0.0,
    "tomorrow": 1.0,
    "last week": -7.0,
    "last weekend": -5.0,
    "this week": 0.0,
    "this weekend": 1.0,
    "next week": 7.0,
    "next weekend": 8.0,
    "earlier this week": -2.0,
    "later this week": 2.0,
    "last month": -30.0,
    "this month": 0.0,
    "next month": 30.0,
    "earlier this month": -10.0,
    "later this month": 10.0,
    "last year": -365.0,
    "this year": 0.0,
    "next year": 365.0,
    "earlier this year": -90.0,
    "later this year": 90.0,
    "last summer": -270.0,
    "last spring": -300.0,
    "last autumn": -200.0,
    "last winter": -250.0,
    "this summer": 60.0,
    "next summer": 400.0,
    "last season": -300.0,
    "this season": 0.0,
    "next season": 300.0,
}
_FUTURE = re.compile(
    r"\b(?:will|shall|going to|is to|are to|plans? to|planned|expected to|scheduled|due to|set to"
    r"|upcoming|would meet|'ll|’ll)\b",
    re.IGNORECASE,
)
_PAST = re.compile(r"\b(?:[Ww]as|[Ww]ere|[Hh]ad|[Dd]id|said|spoke|met|ago|last|earlier|previously|[a-z]{3,}ed)\b")
_ANCHOR_CUE = re.compile(
    r"(?:published|updated|posted|date|last updated)\s*:?[\s.|]*(?:[\d:]+\s*\w{0,4},?\s*)?", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class TimeMention:
    """A time expression at ``text[start:end]`` of the document, with what it resolves to.

    ``when`` is a calendar date when the story allows it; otherwise ``sort_key`` still orders the
    mention around the story's "now" (``ordered``), or nothing can (``ordered`` is False)."""

    start: int
    end: int
    text: str
    kind: str
    when: date | None
    precision: str  # day | month | year | relative | unknown
    sort_key: tuple[int, float]
    ordered: bool
    tense: str


def _month(name: str) -> int:
    return MONTHS[name.lower().rstrip(".")]


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def find_anchor(text: str) -> date | None:
    """The story's own date: a full date after "Published/Updated/Posted", or heading its text."""
    head = text[:600]
    for cue in _ANCHOR_CUE.finditer(head):
        found = _full_date(head, cue.end(), cue.end() + 40)
        if found:
            return found
    first_line = head.split("\n", 1)[0]
    if len(first_line.split()) <= 8:
        return _full_date(first_line, 0, len(first_line))
    return None


def _full_date(text: str, start: int, end: int) -> date | None:
    for kind in ("day_month_year", "month_day_year"):
        pattern = dict(_PATTERNS)[kind]
        match = pattern.search(text, start, end)
        if match and match.start() - start <= 25:
            return _safe_date(int(match["year"]), _month(match["month"]), int(match["day"]))
    return None


def sentence_tense(sentence: str, offset: int) -> str:
    """ "future", "past" or "unknown": the verb governing a time expression usually comes before it
    in its sentence ("will meet ... on February 3"), so the nearest marker before it decides; one
    after it ("on Monday, police said") only when there is none before."""
    markers = sorted(
        [(m.start(), "future") for m in _FUTURE.finditer(sentence)]
        + [(m.start(), "past") for m in _PAST.finditer(sentence)]
    )
    before = [tense for position, tense in markers if position < offset]
    if before:
        return before[-1]
    return markers[0][1] if markers else "unknown"


def _raw_mentions(sentence: str) -> list[tuple[str, re.Match[str]]]:
    """Non-overlapping matches, earlier patterns first, in sentence order."""
    taken: list[tuple[int, int]] = []
    found: list[tuple[str, re.Match[str]]] = []
    for kind, pattern in _PATTERNS:
        for match in pattern.finditer(sentence):
            if any(match.start() < e and s < match.end() for s, e in taken):
                continue
            taken.append((match.start(), match.end()))
            found.append((kind, match))
    return sorted(found, key=lambda item: item[1].start())


def mentions_in_sentence(sentence: str, offset: int, anchor: date | None) -> list[TimeMention]:
    """The time expressions of one sentence; ``offset`` is where it starts in the document."""
    out = []
    for kind, match in _raw_mentions(sentence):
        tense = sentence_tense(sentence, match.start())
        mention = _resolve(kind, match, tense, anchor)
        if mention is None:
            continue
        when, precision, key, ordered = mention
        if anchor is not None and when is not None:
            key = (0, float(when.toordinal()))  # comparable across documents with different dates
        out.append(
            TimeMention(
                offset + match.start(), offset + match.end(), match.group(0), kind, when, precision, key, ordered, tense
            )
        )
    return out


Resolution = tuple[date | None, str, tuple[int, float], bool]


def _resolve(kind: str, match: re.Match[str], tense: str, anchor: date | None) -> Resolution | None:
    if kind in ("day_month_year", "month_day_year", "month_year", "year"):
        return _absolute(kind, match, tense, anchor)
    if kind in ("month_day", "day_month", "month"):
        return _month_day(match, tense, anchor)
    if kind == "weekday":
        return _weekday(match, tense, anchor)
    return _relative(kind, match, tense, anchor)


def _dated(when: date, precision: str, anchor: date | None, tense: str) -> Resolution:
    """A calendar date: with an anchor it sits on the story's day scale; without one, dates with
    a year come before the story's relative "now" unless the sentence speaks of the future."""
    if anchor is not None:
        return when, precision, (1, float((when - anchor).days)), True
    return when, precision, (2 if tense == "future" else 0, float(when.toordinal())), True


def _absolute(kind: str, match: re.Match[str], tense: str, anchor: date | None) -> Resolution | None:
    year = int(match["year"])
    if kind == "year":
        return _dated(date(year, 1, 1), "year", anchor, tense)
    month = _month(match["month"])
    if kind == "month_year":
        return _dated(date(year, month, 1), "month", anchor, tense)
    when = _safe_date(year, month, int(match["day"]))
    return _dated(when, "day", anchor, tense) if when else None


def _month_day(match: re.Match[str], tense: str, anchor: date | None) -> Resolution | None:
    month = _month(match["month"])
    day = int(match["day"]) if "day" in match.re.groupindex else 1
    precision = "day" if "day" in match.re.groupindex else "month"
    if not 1 <= day <= 31:
        return None
    if anchor is not None:
        when = _safe_date(anchor.year, month, day)
        if when is None:
            return None
        if tense == "future" and when < anchor:
            when = _safe_date(anchor.year + 1, month, day) or when
        elif tense != "future" and when > anchor + timedelta(days=7):
            when = _safe_date(anchor.year - 1, month, day) or when
        return when, precision, (1, float((when - anchor).days)), True
    # News names recent days by weekday and older or coming ones by date: a bare past date lies
    # before "last week", a future one after "next week".
    within_year = month * 31 + day
    if tense == "future":
        return None, precision, (1, 1000.0 + within_year), True
    if tense == "past":
        return None, precision, (1, -1000.0 + within_year), True
    return None, "unknown", (1, 0.0), False


def _weekday(match: re.Match[str], tense: str, anchor: date | None) -> Resolution:
    weekday = WEEKDAYS[match["weekday"].lower()]
    qualifier = (match["qual"] or "").strip().lower()
    ahead = qualifier == "next" or (qualifier != "last" and tense == "future")
    if anchor is not None:
        delta = (weekday - anchor.weekday()) % 7 if ahead else -((anchor.weekday() - weekday) % 7)
        if qualifier == "last" and delta == 0:
            delta = -7
        when = anchor + timedelta(days=delta)
        return when, "day", (1, float(delta)), True
    if qualifier in ("last", "next") or tense in ("past", "future"):
        return None, "relative", (1, 3.0 if ahead else -3.0), True
    return None, "unknown", (1, 0.0), False


def _relative(kind: str, match: re.Match[str], tense: str, anchor: date | None) -> Resolution | None:
    if kind == "ago":
        count = _NUMBERS.get(match["count"].lower().replace("a few", "few").replace("a couple of", "couple"))
        count = count if count is not None else int(match["count"]) if match["count"].isdigit() else 1
        sign = 1 if match["dir"].lower() in ("later", "from now") else -1
        days = float(sign * count * _UNITS[match["unit"].lower()])
        if match["dir"].lower() in ("earlier", "later", "before"):
            return None  # relative to another event, not to the story
    else:
        phrase = match["rel"].lower()
        if phrase.startswith("the "):
            return None
        days = _RELATIVE_DAYS.get(phrase, 0.0)
    if anchor is not None:
        return anchor + timedelta(days=days), "relative", (1, days), True
    return None, "relative", (1, days), True


def describe(mention: TimeMention) -> str:
    """How a timeline line names its time: the resolved date, or the story's own words."""
    when = mention.when
    if when is None:
        if mention.kind in ("month_day", "day_month", "month") and mention.ordered:
            return f"{mention.text} ({'ahead' if mention.tense == 'future' else 'before the story'})"
        return mention.text
    if mention.kind in ("relative", "ago"):
        return f"{mention.text} (≈ {when:%d %b %Y})"
    if mention.precision == "year":
        return f"{when:%Y}"
    if mention.precision == "month":
        return f"{when:%b %Y}" if mention.kind == "month_year" else f"{mention.text} ({when:%b %Y})"
    label = f"{when:%a %d %b %Y}"
    return label if mention.kind in ("day_month_year", "month_day_year") else f"{label} ({mention.text})"
