"""The data every face of story-bot renders: an answer and its verbatim citations."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Citation:
    """A verbatim quote: ``passage == document_text(source)[start:end]``, numbered ``[n]``."""

    n: int
    source: str
    start: int
    end: int
    passage: str
    score: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class ShortAnswer:
    """The answer itself in a few words: ``text == document_text(source)[start:end]``, inside the
    first citation."""

    text: str
    source: str
    start: int
    end: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Turn:
    """A previous question and answer in a conversation (a Discord thread)."""

    question: str
    answer: str


@dataclass(frozen=True, slots=True)
class Answer:
    """An answer with its citations. ``grounded`` is False when the story does not say."""

    question: str
    answer: str
    grounded: bool
    citations: list[Citation] = field(default_factory=list)
    related: list[Citation] = field(default_factory=list)
    mode: str = "extractive"
    fallback_reason: str | None = None
    confidence: float = 0.0
    short_answer: ShortAnswer | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract of ``storybot ask --json`` (without latency, which the caller adds)."""
        out: dict[str, Any] = {
            "question": self.question,
            "answer": self.answer,
            "short_answer": self.short_answer.to_dict() if self.short_answer else None,
            "grounded": self.grounded,
            "citations": [c.to_dict() for c in self.citations],
            "mode": self.mode,
        }
        if self.related:
            out["related"] = [c.to_dict() for c in self.related]
        if self.fallback_reason:
            out["fallback_reason"] = self.fallback_reason
        return out


@dataclass(frozen=True, slots=True)
class SummaryLine:
    """One line of a summary; ``text`` carries ``[n]`` markers for ``citations``."""

    text: str
    citations: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Summary:
    """A cited summary. ``source`` is the file summarized, or None for a whole collection."""

    mode: str
    lines: list[SummaryLine]
    citations: list[Citation]
    source: str | None = None

    def text(self) -> str:
        """The summary as plain text, one line per entry (bullets for list modes)."""
        if self.mode == "tldr":
            return " ".join(line.text for line in self.lines)
        return "\n".join(f"• {line.text}" for line in self.lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "mode": self.mode,
            "summary": self.text(),
            "lines": [{"text": line.text, "citations": list(line.citations)} for line in self.lines],
            "citations": [c.to_dict() for c in self.citations],
        }
