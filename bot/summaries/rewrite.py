"""Fluent summaries from a chat model, held to the same verification as answers.

The extractive summarizer picks cited sentences; a model may rewrite them as prose. The model only
sees those cited sentences, numbered, and each sentence it writes must be backed by a verbatim
quote of one of them (see :mod:`bot.llm.verify`). Whatever fails is dropped; if nothing is left,
the extractive summary stands, marked as a fallback.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from bot.answering.chain import verify_citations
from bot.answering.data import Answer, Citation, Summary, SummaryLine
from bot.llm.model import Deadline, ModelOutcome, TimedChatModel, describe_failure
from bot.llm.prompts import PromptPassage, summary_messages
from bot.llm.verify import verify_reply
from bot.logs import log_event
from index.chunking import Passage

logger = logging.getLogger("storybot.llm")


@dataclass(frozen=True, slots=True)
class SummaryRewrite:
    """The summary to show: the model's verified rewrite (``mode="llm"``), or the extractive
    summary unchanged (``mode="extractive"``) with the reason the rewrite was not used."""

    summary: Summary
    mode: str
    fallback_reason: str | None = None


def rewrite_summary(
    summary: Summary,
    model: TimedChatModel,
    time_limit: float,
    document_text: Callable[[str], str | None] | None = None,
) -> SummaryRewrite:
    """Rewrite ``summary`` with the model within ``time_limit`` seconds; never raises for model errors."""
    passages = _passages(summary)
    if not passages:
        return SummaryRewrite(summary, "extractive", "nothing to rewrite")
    try:
        outcome = model.reply(summary_messages(_draft(summary), _prompt(passages)), Deadline.after(time_limit))
    except Exception as exc:
        return _fallback(summary, describe_failure(exc))
    return _settle(summary, passages, outcome, document_text)


def _passages(summary: Summary) -> list[Passage]:
    """The summary's citations as the passages the model may quote, in citation order."""
    return [Passage("", c.source, c.start, c.end, c.passage) for c in sorted(summary.citations, key=lambda c: c.n)]


def _prompt(passages: list[Passage]) -> list[PromptPassage]:
    return [PromptPassage(n, p.source, p.text) for n, p in enumerate(passages, 1)]


def _draft(summary: Summary) -> str:
    """The extractive summary, its markers renumbered to the passages' positions in the prompt."""
    position = {c.n: i for i, c in enumerate(sorted(summary.citations, key=lambda c: c.n), 1)}
    return re.sub(r"\[(\d+)\]", lambda m: f"[{position.get(int(m.group(1)), 0)}]", summary.text())


def _settle(
    summary: Summary,
    passages: list[Passage],
    outcome: ModelOutcome,
    document_text: Callable[[str], str | None] | None,
) -> SummaryRewrite:
    if outcome.reply is None:
        return _fallback(summary, "unreadable model output")
    verified = verify_reply(outcome.reply, passages, [c.score for c in sorted(summary.citations, key=lambda c: c.n)])
    if not verified.claims:
        return _fallback(summary, "no verified citation")
    if document_text is not None and not _all_verbatim(verified.citations, document_text):
        return _fallback(summary, "citation does not match the document")
    lines = [SummaryLine(claim.rendered(), claim.citations) for claim in verified.claims]
    return SummaryRewrite(replace(summary, lines=lines, citations=verified.citations), "llm")


def _all_verbatim(citations: list[Citation], document_text: Callable[[str], str | None]) -> bool:
    probe = Answer("", "", True, citations)
    return verify_citations(probe, document_text).citations == citations


def _fallback(summary: Summary, reason: str) -> SummaryRewrite:
    log_event(logger, "llm_summary_fallback", logging.WARNING, reason=reason)
    return SummaryRewrite(summary, "extractive", reason)
