"""The bundled seed story, index/data/petro-trump-meeting.txt: the one test module that answers from it.

Every other module indexes small stories written for its tests, so a change to the answerer (or to
the seed story) that moves a borderline answer shows up here, not across the suite. What stays on
the seed story: a handful of clear questions and clear refusals, citations that are exact slices
of the bundled text, and that an empty collection (a first run of the CLI, a new Discord server)
answers and summarizes from the bundled story.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.answering.chain import NOT_IN_STORY
from bot.answering.data import Turn
from bot.service import StoryService
from bot.summaries.summarize import MODES, summarize_document
from index.chunking import chunk_document
from index.corpus import default_corpus
from tests.test_cli import run_cli
from tests.verbatim import assert_verbatim

SEED = default_corpus()[0]
SEED_FILE = Path(__file__).parents[1] / "index" / "data" / "petro-trump-meeting.txt"


@pytest.fixture
def seed_service(make_service: Callable[..., StoryService]) -> StoryService:
    """A service whose default collection holds the bundled seed story."""
    built = make_service()
    built.ensure_corpus()
    return built


# --- clear questions and clear refusals -----------------------------------------------------------


def test_meeting_date_is_answered_with_a_verbatim_quote(seed_service: StoryService) -> None:
    answer = seed_service.ask("When will Petro meet Trump?")
    assert answer.grounded
    assert "February 3" in answer.answer
    assert "[1]" in answer.answer
    assert answer.citations[0].n == 1
    assert answer.citations[0].source == "petro-trump-meeting.txt"
    assert_verbatim(seed_service, answer)


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Who did Petro make the announcement to?", "Council of Ministers"),
        ("Where will Trump meet Petro?", "White House"),
        ("What did Petro dare Trump to do?", "come and get"),
    ],
)
def test_clear_questions_are_answered_from_the_seed_story(
    seed_service: StoryService, question: str, expected: str
) -> None:
    answer = seed_service.ask(question)
    assert answer.grounded
    assert expected in answer.answer
    assert answer.citations[0].source == SEED.source
    assert_verbatim(seed_service, answer)


def test_a_follow_up_about_the_seed_story_uses_the_previous_question(seed_service: StoryService) -> None:
    history = (Turn("Where will Petro meet Trump?", "At the White House [1]"),)
    answer = seed_service.ask("And when is he going there?", history=history)
    assert answer.grounded
    assert "February 3" in answer.answer


@pytest.mark.parametrize(
    "question",
    [
        "What is the population of Brazil?",
        "Who won the 1998 football World Cup?",
        "How do I bake sourdough bread?",
        "What is the boiling point of mercury in Kelvin?",
        "Who lit the great lamp of the lighthouse?",
        "Which trawler ran aground on the northern reef?",
    ],
)
def test_questions_the_seed_story_does_not_answer_are_refused(seed_service: StoryService, question: str) -> None:
    answer = seed_service.ask(question)
    assert not answer.grounded
    assert answer.answer == NOT_IN_STORY
    assert answer.citations == []
    assert_verbatim(seed_service, answer)


# --- an empty collection answers from the bundled story -----------------------------------------


def test_an_empty_collection_answers_from_the_bundled_story(make_service: Callable[..., StoryService]) -> None:
    service = make_service()
    assert service.sources() == []
    answer = service.ask("When will Petro meet Trump?")
    assert [info.source for info in service.sources()] == [SEED.source]
    assert answer.grounded
    assert {citation.source for citation in answer.citations} == {SEED.source}
    for citation in answer.citations:
        assert SEED.text[citation.start : citation.end] == citation.passage


def test_a_first_run_of_the_cli_answers_from_the_bundled_story_in_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["ask", "--json", "When will Petro meet Trump?"], capsys)
    assert code == 0
    payload = json.loads(out)
    assert set(payload) >= {"question", "answer", "grounded", "citations", "latency_ms"}
    assert payload["grounded"] is True
    assert "February 3" in payload["answer"]
    citation = payload["citations"][0]
    assert set(citation) >= {"n", "source", "start", "end", "passage", "score"}
    assert citation["n"] == 1
    assert citation["source"] == "petro-trump-meeting.txt"
    story = SEED_FILE.read_text(encoding="utf-8")
    assert story.strip()[citation["start"] : citation["end"]] == citation["passage"]


def test_a_first_run_of_the_cli_quotes_the_bundled_story(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["ask", "When will Petro meet Trump?"], capsys)
    assert code == 0
    assert "[1]" in out
    assert "petro-trump-meeting.txt" in out
    assert "February 3" in out


def test_an_empty_collection_is_summarized_from_the_bundled_story(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["summarize", "--mode", "who", "--json"], capsys)
    assert code == 0
    payload = json.loads(out)
    assert payload["source"] is None
    assert "Gustavo Petro" in payload["summary"]
    assert payload["latency_ms"] >= 0


# --- citations are exact slices of the bundled text ----------------------------------------------


def test_every_passage_equals_its_slice_of_the_seed_story() -> None:
    passages = chunk_document(SEED.source, SEED.text, max_chars=300)
    assert len(passages) > 5
    for passage in passages:
        assert passage.text == SEED.text[passage.start : passage.end]
        assert len(passage.text) <= 300
    covered = {i for p in passages for i in range(p.start, p.end)}
    assert all(i in covered for i, ch in enumerate(SEED.text) if not ch.isspace())


@pytest.mark.parametrize("mode", MODES)
def test_every_summary_of_the_seed_story_cites_it_verbatim(mode: str) -> None:
    summary = summarize_document(SEED, mode)
    assert summary.source == SEED.source
    assert summary.citations
    for citation in summary.citations:
        assert SEED.text[citation.start : citation.end] == citation.passage
