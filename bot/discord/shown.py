"""What an answer message shows, kept in the database so its buttons work after a restart.

An answer or summary is saved as a JSON payload (the same fields as ``storybot ask --json``) under
a new answer id, and every button's custom id carries that id. A click loads the payload and
renders the pages again, so nothing about a message needs to stay in memory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from bot.answering.data import Answer, Citation, ShortAnswer, Summary, SummaryLine, Turn
from bot.discord.render import NO_LABELS, Page, SourceLabel, SourceLabels, render_answer, render_summary, summary_title
from bot.state import SavedAnswer

PAYLOAD_VERSION = 1


@dataclass(frozen=True, slots=True)
class Shown:
    """An answer or summary as its message renders it."""

    answer_id: str
    kind: Literal["answer", "summary"]
    question: str
    text: str
    grounded: bool
    citations: tuple[Citation, ...]
    related: tuple[Citation, ...]
    pages: tuple[Page, ...]
    collection: str
    created_at: datetime
    labels: SourceLabels = field(default_factory=dict)  # titles and addresses of the cited web pages

    def citation(self, n: int) -> Citation | None:
        return next((c for c in self.citations if c.n == n), None)

    def turn(self) -> Turn:
        """This answer as conversation history for a follow-up."""
        return Turn(self.question, self.text)


def answer_payload(answer: Answer, labels: SourceLabels = NO_LABELS) -> dict[str, Any]:
    """What is saved of an answer: its JSON contract, with the closest passages of a refusal and
    the titles and addresses of its web sources (so it renders the same after a restart)."""
    related = [c.to_dict() for c in answer.related]
    return plain_json({"v": PAYLOAD_VERSION, **answer.to_dict(), "related": related, **labels_payload(labels)})


def summary_payload(summary: Summary, labels: SourceLabels = NO_LABELS) -> dict[str, Any]:
    return plain_json({"v": PAYLOAD_VERSION, **summary.to_dict(), **labels_payload(labels)})


def labels_payload(labels: SourceLabels) -> dict[str, Any]:
    """``{"labels": {source: {"title", "url"}}}``, or nothing when no source has a label."""
    if not labels:
        return {}
    return {"labels": {source: {"title": label.title, "url": label.url} for source, label in labels.items()}}


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def labels_from_payload(payload: dict[str, Any]) -> dict[str, SourceLabel]:
    """The saved labels; payloads saved before labels existed (or malformed ones) have none."""
    raw = payload.get("labels")
    if not isinstance(raw, dict):
        return {}
    return {
        str(source): SourceLabel(_text_or_none(item.get("title")), _text_or_none(item.get("url")))
        for source, item in raw.items()
        if isinstance(item, dict)
    }


def plain_json(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as plain JSON types (scores may be NumPy scalars, which JSON columns refuse)."""
    return dict(json.loads(json.dumps(payload, default=float)))


def _citations(raw: Any) -> list[Citation]:
    return [Citation(**item) for item in raw or ()]


def answer_from_payload(payload: dict[str, Any]) -> Answer:
    short = payload.get("short_answer")
    return Answer(
        question=str(payload["question"]),
        answer=str(payload["answer"]),
        grounded=bool(payload["grounded"]),
        citations=_citations(payload.get("citations")),
        related=_citations(payload.get("related")),
        mode=str(payload.get("mode", "extractive")),
        fallback_reason=payload.get("fallback_reason"),
        short_answer=ShortAnswer(**short) if short else None,
    )


def summary_from_payload(payload: dict[str, Any]) -> Summary:
    lines = [SummaryLine(str(line["text"]), tuple(line.get("citations", ()))) for line in payload.get("lines", ())]
    return Summary(str(payload["mode"]), lines, _citations(payload.get("citations")), payload.get("source"))


def answer_shown(
    answer_id: str, answer: Answer, collection: str, created_at: datetime, labels: SourceLabels = NO_LABELS
) -> Shown:
    return Shown(
        answer_id,
        "answer",
        answer.question,
        answer.answer,
        answer.grounded,
        tuple(answer.citations),
        tuple(answer.related),
        tuple(render_answer(answer, labels)),
        collection,
        created_at,
        labels,
    )


def summary_shown(
    answer_id: str, summary: Summary, collection: str, created_at: datetime, labels: SourceLabels = NO_LABELS
) -> Shown:
    return Shown(
        answer_id,
        "summary",
        summary_title(summary),
        summary.text(),
        bool(summary.lines),
        tuple(summary.citations),
        (),
        tuple(render_summary(summary, labels)),
        collection,
        created_at,
        labels,
    )


def shown_from_saved(saved: SavedAnswer) -> Shown:
    """A saved answer or summary, rendered again exactly as its message shows it."""
    labels = labels_from_payload(saved.payload)
    if saved.kind == "summary":
        summary = summary_from_payload(saved.payload)
        return summary_shown(saved.answer_id, summary, saved.collection, saved.created_at, labels)
    answer = answer_from_payload(saved.payload)
    return answer_shown(saved.answer_id, answer, saved.collection, saved.created_at, labels)
