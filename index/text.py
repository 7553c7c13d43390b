"""Tokenizing for keyword search and lexical scoring: lower-cased, stemmed, no stop words."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import Stemmer

STOPWORDS = frozenset(
    """a about above after again against all also am an and any are aren't as at
    be because been before being below between both but by can could did do does doing
    down during each few for from further had has have having he her here hers herself
    him himself his how i if in into is it its itself just let me more
    most my myself no nor not of off on once only or other our ours ourselves
    out over own same she should so some such than that the their theirs them themselves
    then there these they this those through to too under until up very was we were
    what when where which while who whom whose why will with would you your yours yourself
    yourselves s t d ll m re ve o y said says say tell according""".split()
)
_WORD = re.compile(r"\w+(?:['’]\w+)*", re.UNICODE)


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """Snowball stem of a lower-case word, memoized: the same words recur constantly."""
    return str(_stemmer().stemWord(word))


def fold(text: str) -> str:
    """Lower-case and strip accents so "Bogotá" matches "Bogota"."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def words(text: str) -> list[str]:
    """Lower-case, accent-folded words with possessives dropped ("Colombia’s" → "colombia")."""
    out = []
    for match in _WORD.finditer(fold(text)):
        word = re.sub(r"['’]s$", "", match.group(0))
        out.append(word.replace("’", "'"))
    return out


def tokenize(text: str) -> list[str]:
    """Stemmed content words: the unit of BM25 and of lexical overlap scoring."""
    return [stem(w) for w in words(text) if w not in STOPWORDS]


@lru_cache(maxsize=1)
def _background_zipf() -> dict[str, float]:
    from importlib import resources

    table = resources.files("index").joinpath("data", "background_zipf.tsv").read_text(encoding="utf-8")
    rows = (line.split("\t") for line in table.splitlines() if line and not line.startswith("#"))
    return {term: float(zipf) for term, zipf in rows}


def background_idf(term: str) -> float:
    """How informative a stemmed word is in general English (common words weigh little).

    Unlike a collection's own idf this does not depend on how much is indexed, so scores mean
    the same on a one-article collection as on a thousand documents.
    """
    zipf = _background_zipf().get(term, 1.0)
    return max(0.5, 8.0 - zipf)


_QUESTION_FRAME = re.compile(
    r"\bhow (?:long|many|much|far|old|often|big|large|tall|soon)\b"
    r"|\b(?:what|which) (?:kind|type|sort|sorts|kinds|types) of\b"
    r"|\b(?:what|which) (?:day|date|year|month|time|hour|century|decade)\b",
    re.IGNORECASE,
)


def question_tokens(question: str) -> list[str]:
    """Content words of a question: "how long" or "what kind of" say what sort of answer is
    wanted, they are not words the answer contains ("how long did the call last" ≠ "long")."""
    return tokenize(_QUESTION_FRAME.sub(" ", question))
