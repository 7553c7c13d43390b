"""Who said it: a quoted sentence is cited together with the neighbour that names its speaker.

News quotes are often split over sentences — ``“We will not back down.” The minister said the
plan was final.`` — so the sentence holding the words may not hold the speaker. When the chosen
sentence is a quotation without a speech verb, or the question asks who said something, the
citation grows to take in an adjacent sentence that attributes it, as one contiguous slice of the
document (still verifiable character for character).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from index.chunking import Sentence
from index.text import words

SPEECH_VERBS = frozenset(
    """said says say told tells added adds asked explained claimed insisted admitted warned wrote tweeted
    stated argued noted declared announced suggested continued recalled joked replied confirmed revealed
    described accused urged praised criticised criticized posted according""".split()
)
_QUOTE_MARKS = re.compile(r"[“”\"‘’«»]|(?:^|\s)'|'(?:\s|$)")
_ASKS_SPEAKER = re.compile(
    r"\bwho\b.*\b(?:" + "|".join(sorted(SPEECH_VERBS - {"according"})) + r")\b|\baccording to (?:whom|who)\b",
    re.IGNORECASE,
)
# A neighbour longer than this is a statement of its own, not an attribution worth quoting too.
_MAX_ATTRIBUTION_CHARS = 400


def asks_for_speaker(question: str) -> bool:
    """ "Who said the plan was reckless?", "According to whom …?"."""
    return bool(_ASKS_SPEAKER.search(question))


def attributes_speech(text: str) -> bool:
    """The sentence names an act of speaking ("…, she said", "Petro told reporters")."""
    return bool(SPEECH_VERBS & set(words(text)))


def is_quotation(text: str) -> bool:
    return bool(_QUOTE_MARKS.search(text))


def speaker_neighbour(sentences: Sequence[Sentence], index: int, asks_speaker: bool) -> int | None:
    """The index of the adjacent sentence to cite with ``sentences[index]``, or None.

    Only when the chosen sentence needs one (a quotation with no speech verb of its own, or a
    question about the speaker that it does not answer by itself), and only an adjacent sentence
    that does attribute speech. A neighbouring quotation with its speaker comes first (the same
    speaker's quote going on, the earlier sentence before the later); then the following
    sentence, as news writing puts "…,” she said." after the quote; then the preceding one.
    """
    chosen = sentences[index].text
    if attributes_speech(chosen) and not (asks_speaker and not _names_someone(chosen)):
        return None
    if not (is_quotation(chosen) or asks_speaker):
        return None
    around = [i for i in (index - 1, index + 1) if 0 <= i < len(sentences)]
    attributing = [
        i for i in around if len(sentences[i].text) <= _MAX_ATTRIBUTION_CHARS and attributes_speech(sentences[i].text)
    ]
    quoted = [i for i in attributing if is_quotation(sentences[i].text)]
    if quoted:
        return quoted[0]
    return max(attributing, default=None)


def _names_someone(text: str) -> bool:
    """A capitalized word after the first one: a name or a title, not just "he said"."""
    return any(word[:1].isupper() for word in text.split()[1:])
