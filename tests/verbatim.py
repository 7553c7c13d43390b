"""The grounding promise as one check: every quote, and the short answer, is the document's text."""

from __future__ import annotations

from bot.answering.data import Answer
from bot.service import StoryService


def assert_verbatim(service: StoryService, answer: Answer) -> None:
    """Each citation (and the closest passage shown with a refusal) is an exact slice of the
    stored document, and so is the short answer."""
    for citation in [*answer.citations, *answer.related]:
        text = service.store().document_text(citation.source)
        assert text is not None
        assert text[citation.start : citation.end] == citation.passage
    if answer.short_answer is not None:
        text = service.store().document_text(answer.short_answer.source)
        assert text is not None
        assert text[answer.short_answer.start : answer.short_answer.end] == answer.short_answer.text
