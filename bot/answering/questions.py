"""Questions as people type them: cleaned, checked, and made standalone for retrieval."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from bot.answering.data import Turn
from bot.errors import QuestionError
from index.text import tokenize

# Pronouns and deictic words that make a follow-up depend on what was asked before.
_ANAPHORA = frozenset("he she they him her them his hers their it its there that this those these then".split())


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


def clean_question(question: str, max_chars: int) -> str:
    """Strip what :func:`printable` strips; refuse empty or over-long questions politely."""
    cleaned = printable(question)
    if not cleaned:
        raise QuestionError("Please ask a question: the one given was empty.")
    if len(cleaned) > max_chars:
        raise QuestionError(f"Please keep questions under {max_chars} characters (this one has {len(cleaned)}).")
    if not any(ch.isalnum() for ch in cleaned):
        raise QuestionError("Please ask a question in words: that one has no letters or digits.")
    return cleaned


def is_follow_up(question: str) -> bool:
    """A short question leaning on an earlier one ("when is he going there?")."""
    lowered = set(re.findall(r"[a-z]+", question.lower()))
    return bool(lowered & _ANAPHORA) or len(tokenize(question)) <= 1


def standalone_query(request: AnswerRequest, turns: int) -> str:
    """The question to retrieve with: follow-ups borrow the words of the previous questions."""
    if not request.history or turns <= 0 or not is_follow_up(request.question):
        return request.question
    earlier = [printable(turn.question) for turn in request.history[-turns:]]  # history is user text too
    return " ".join([*earlier[-1:], request.question])


def as_request(value: AnswerRequest | str | dict[str, Any]) -> AnswerRequest:
    if isinstance(value, AnswerRequest):
        return value
    if isinstance(value, str):
        return AnswerRequest(value)
    history = tuple(t if isinstance(t, Turn) else Turn(**t) for t in value.get("history", ()))
    return AnswerRequest(str(value["question"]), history)
