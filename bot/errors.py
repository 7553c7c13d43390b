"""User-facing errors of the answering layer (the index layer's live in ``index.errors``)."""

from index.errors import StoryBotError


class QuestionError(StoryBotError):
    """The question itself cannot be answered as asked: empty, too long, unreadable."""


class CitationError(StoryBotError):
    """A citation failed verification against its source text (a bug, never shown as a quote)."""
