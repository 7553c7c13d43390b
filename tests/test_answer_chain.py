"""The answer chain on a small story written for it: verbatim citations, refusal, follow-ups, bad
questions. (The bundled seed story has its own module, tests/test_seed_story.py.)"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace

import pytest

from bot.answering.chain import NOT_IN_STORY, verify_citations
from bot.answering.data import Answer, Citation, Turn
from bot.answering.questions import clean_question
from bot.errors import QuestionError
from bot.service import StoryService
from index.loaders import LoadedDocument
from tests.verbatim import assert_verbatim

FESTIVAL = LoadedDocument(
    "lantern-festival.txt",
    "The Lantern Festival\n\n"
    "Mayor Ines Calloway will open the Lantern Festival on August 14. "
    "The festival will be held on the old fish market pier. "
    "The town band will play sea shanties until midnight, and fishermen will sell grilled mackerel. "
    "Last year the festival drew eleven thousand visitors.",
)


@pytest.fixture
def service(make_story_service: Callable[..., StoryService]) -> StoryService:
    """A service whose default collection holds the festival story alone."""
    return make_story_service(FESTIVAL)


def test_the_opening_date_is_answered_with_a_verbatim_quote(service: StoryService) -> None:
    answer = service.ask("When will Mayor Calloway open the Lantern Festival?")
    assert answer.grounded
    assert "August 14" in answer.answer
    assert "[1]" in answer.answer
    assert answer.citations[0].n == 1
    assert answer.citations[0].source == FESTIVAL.source
    assert_verbatim(service, answer)


@pytest.mark.parametrize(
    "question",
    ["What is the population of Brazil?", "Who won the 1998 football World Cup?", "How do I bake sourdough bread?"],
)
def test_questions_the_story_does_not_answer_are_refused(service: StoryService, question: str) -> None:
    answer = service.ask(question)
    assert not answer.grounded
    assert answer.answer == NOT_IN_STORY
    assert answer.citations == []
    assert_verbatim(service, answer)


def test_a_follow_up_uses_the_previous_question(service: StoryService) -> None:
    history = (Turn("Where will the Lantern Festival be held?", "On the old fish market pier [1]"),)
    answer = service.ask("And when does it open?", history=history)
    assert answer.grounded
    assert "August 14" in answer.answer


def test_a_question_of_question_words_alone_is_not_guessed_at(service: StoryService) -> None:
    answer = service.ask("And when?")  # no conversation to borrow a subject from
    assert not answer.grounded
    assert answer.citations == []


def test_answers_come_from_newly_indexed_documents(service: StoryService) -> None:
    service.index_document(
        LoadedDocument("bridge.txt", "The Elm Street bridge will reopen on June 12 after two years of repairs.")
    )
    answer = service.ask("When does the Elm Street bridge reopen?")
    assert answer.grounded
    assert answer.citations[0].source == "bridge.txt"
    assert "June 12" in answer.answer


def test_async_callers_get_the_same_answer(service: StoryService) -> None:
    answer = asyncio.run(service.aask("When will Mayor Calloway open the Lantern Festival?"))
    assert answer.grounded
    assert "August 14" in answer.answer


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
