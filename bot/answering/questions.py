"""Questions as people type them: cleaned, checked, and made standalone for retrieval."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from bot.answering.data import Turn
from bot.errors import QuestionError
from index.text import tokenize

# Discord markup that carries no words of the question: user, role and channel mentions, custom
# emoji, timestamps, slash-command mentions, @everyone/@here; and web addresses.
_MARKUP = re.compile(
    r"<(?:@[!&]?\d+|#\d+|a?:\w+:\d+|t:\d+(?::[a-zA-Z])?|/[\w -]+:\d+)>"
    r"|@(?:everyone|here)\b"
    r"|\b(?:https?://|www\.)\S+",
    re.IGNORECASE,
)

# Pronouns and deictic words that make a follow-up depend on what was asked before.
_ANAPHORA = frozenset("he she they him her them his hers their it its there that this those these then".split())
# Chat spellings of question and function words (not of content words: those stay as typed).
_CHAT_SPELLINGS = {
    "wen": "when", "whn": "when", "wat": "what", "wht": "what", "wut": "what", "wot": "what",
    "wher": "where", "whr": "where", "hw": "how", "abt": "about", "bc": "because", "cuz": "because",
    "govt": "government", "tmrw": "tomorrow", "2day": "today", "ppl": "people", "wud": "would",
    "cud": "could", "shud": "should", "wats": "what's", "whats": "what's", "whos": "who's",
    "wheres": "where's", "hows": "how's", "w/": "with", "b4": "before",
}  # fmt: skip
_CHAT_ALTERNATIVES = "|".join(re.escape(w) for w in sorted(_CHAT_SPELLINGS, key=len, reverse=True))
_CHAT_WORD = re.compile(rf"(?<![\w'’/.-])(?:{_CHAT_ALTERNATIVES})(?![\w'’/-]|\.\w)", re.IGNORECASE)
_QUESTION_WORDS = frozenset("what when where who whom whose which why how and".split())


@dataclass(frozen=True, slots=True)
class AnswerRequest:
    """A question, with earlier turns of the conversation for follow-ups."""

    question: str
    history: tuple[Turn, ...] = ()


def printable(text: str) -> str:
    """Text without control or zero-width characters, nor lone surrogates (the tokenizer cannot
    read them), with whitespace collapsed."""
    cleaned = "".join(
        " " if unicodedata.category(ch) in {"Cc", "Zl", "Zp"} else ch
        for ch in text
        if unicodedata.category(ch) not in {"Cf", "Cs"}
    )
    return re.sub(r"\s+", " ", cleaned).strip()


def strip_markup(text: str) -> str:
    """The question's words without Discord mentions, emoji codes, timestamps or URLs: they are
    not words a story answers with, and counted as question words they made answerable
    questions look unanswerable."""
    return re.sub(r"\s+", " ", _MARKUP.sub(" ", text)).strip()


def clean_question(question: str, max_chars: int) -> str:
    """Strip what :func:`printable` and :func:`strip_markup` strip; refuse empty or over-long
    questions politely."""
    cleaned = printable(question)
    if not cleaned:
        raise QuestionError("Please ask a question: the one given was empty.")
    if len(cleaned) > max_chars:
        raise QuestionError(f"Please keep questions under {max_chars} characters (this one has {len(cleaned)}).")
    cleaned = strip_markup(cleaned)
    if not any(ch.isalnum() for ch in cleaned):
        raise QuestionError("Please ask a question in words: that one has no letters or digits.")
    return cleaned


def is_follow_up(question: str) -> bool:
    """A short question leaning on an earlier one ("when is he going there?")."""
    lowered = set(re.findall(r"[a-z]+", question.lower()))
    return bool(lowered & _ANAPHORA) or len(tokenize(question)) <= 1


def standalone_query(request: AnswerRequest, turns: int) -> str:
    """The question to retrieve and read with: a follow-up keeps its own words first (the reader
    takes its question word from there) and borrows the subject words of the latest earlier
    question that has any: "And when?" after "Where will Brandt meet Calloway?" becomes
    "And when? will Brandt meet Calloway"."""
    question = spelled_out(request.question)
    if not request.history or turns <= 0 or not is_follow_up(question):
        return question
    for turn in reversed(request.history[-turns:]):
        subject = subject_words(spelled_out(printable(turn.question)))  # history is user text too
        if subject:
            return f"{question} {subject}"
    return question


def spelled_out(question: str) -> str:
    """Chat spellings of common words written out ("wen is it" → "when is it"): the story never
    uses them, so unexpanded they miss retrieval and count as words the story lacks."""
    return _CHAT_WORD.sub(lambda m: _CHAT_SPELLINGS[m.group(0).lower()], question)


def subject_words(question: str) -> str:
    """A question without its question words and punctuation: what it is about."""
    words = re.findall(r"[\w'’-]+", question)
    return " ".join(w for w in words if w.lower() not in _QUESTION_WORDS)


def as_request(value: AnswerRequest | str | dict[str, Any]) -> AnswerRequest:
    if isinstance(value, AnswerRequest):
        return value
    if isinstance(value, str):
        return AnswerRequest(value)
    history = tuple(t if isinstance(t, Turn) else Turn(**t) for t in value.get("history", ()))
    return AnswerRequest(str(value["question"]), history)
