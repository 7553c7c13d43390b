"""The answer chain on the seed story: verbatim citations, refusal, follow-ups, bad questions."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from bot.answering.chain import NOT_IN_STORY, verify_citations
from bot.answering.data import Answer, Citation, Turn
from bot.answering.questions import clean_question
from bot.errors import QuestionError
from bot.service import StoryService
from index.loaders import LoadedDocument


def _assert_verbatim(service: StoryService, answer: Answer) -> None:
    for citation in [*answer.citations, *answer.related]:
        text = service.store().document_text(citation.source)
        assert text is not None
        assert text[citation.start : citation.end] == citation.passage


def test_meeting_date_is_answered_with_a_verbatim_quote(service: StoryService) -> None:
    answer = service.ask("When will Petro meet Trump?")
    assert answer.grounded
    assert "February 3" in answer.answer
    assert "[1]" in answer.answer
    assert answer.citations[0].n == 1
    assert answer.citations[0].source == "petro-trump-meeting.txt"
    _assert_verbatim(service, answer)


@pytest.mark.parametrize(
    "question",
    ["What is the population of Brazil?", "Who won the 1998 football World Cup?", "How do I bake sourdough bread?"],
)
def test_questions_the_story_does_not_answer_are_refused(service: StoryService, question: str) -> None:
    answer = service.ask(question)
    assert not answer.grounded
    assert answer.answer == NOT_IN_STORY
    assert answer.citations == []
    _assert_verbatim(service, answer)


def test_a_follow_up_uses_the_previous_question(service: StoryService) -> None:
    history = (Turn("Where will Petro meet Trump?", "At the White House [1]"),)
    answer = service.ask("And when is he going there?", history=history)
    assert answer.grounded
    assert "February 3" in answer.answer


def test_answers_come_from_newly_indexed_documents(service: StoryService) -> None:
    service.index_document(
        LoadedDocument("bridge.txt", "The Elm Street bridge will reopen on June 12 after two years of repairs.")
    )
    answer = service.ask("When does the Elm Street bridge reopen?")
    assert answer.grounded
    assert answer.citations[0].source == "bridge.txt"
    assert "June 12" in answer.answer


def test_async_callers_get_the_same_answer(service: StoryService) -> None:
    answer = asyncio.run(service.aask("When will Petro meet Trump?"))
    assert answer.grounded
    assert "February 3" in answer.answer


@pytest.mark.parametrize(
    ("question", "message"),
    [("", "empty"), ("   \n\t", "empty"), ("\u200b\u200b", "empty"), ("?!", "no letters"), ("x" * 1001, "under 1000")],
)
def test_bad_questions_get_clear_errors(question: str, message: str) -> None:
    with pytest.raises(QuestionError, match=message):
        clean_question(question, 1000)


def test_control_characters_are_cleaned() -> None:
    assert clean_question("When\x00 is\u200b the\nmeeting?\x1b", 1000) == "When is the meeting?"


def test_a_citation_that_does_not_match_the_source_is_dropped() -> None:
    text = "Alpha beta. Gamma delta."
    good = Citation(1, "a.txt", 0, 11, "Alpha beta.")
    forged = Citation(2, "a.txt", 12, 24, "Gamma DELTA.")
    answer = Answer("q", "Alpha beta. [1] Gamma DELTA. [2]", True, [good, forged])
    checked = verify_citations(answer, {"a.txt": text}.get)
    assert checked.citations == [good]
    refused = verify_citations(replace(answer, citations=[forged]), {"a.txt": text}.get)
    assert not refused.grounded
    assert refused.answer == NOT_IN_STORY
