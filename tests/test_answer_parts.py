"""The answerer's plain parts: question clean-up, attribution of quotes, short-answer spans and
their verification — no model needed."""

from __future__ import annotations

import pytest

from bot.answering.answerer import trim_span
from bot.answering.attribution import asks_for_speaker, speaker_neighbour
from bot.answering.chain import verify_citations
from bot.answering.data import Answer, Citation, ShortAnswer, Turn
from bot.answering.questions import AnswerRequest, clean_question, spelled_out, standalone_query, strip_markup
from bot.errors import QuestionError
from index.chunking import Sentence, chunk_document, passage_sentences, split_sentences

TEXT = (
    "The new bridge over the Tagus opens on 4 May. "
    "“We have waited forty years for this,” the mayor said. "
    "“It will change the city.” "
    "Critics called the toll too high."
)


def sentences_of(text: str) -> list[Sentence]:
    [passage] = chunk_document("bridge.txt", text, 4000)
    return passage_sentences(passage)


@pytest.mark.parametrize(
    ("question", "cleaned"),
    [
        ("@everyone when is the meeting?", "when is the meeting?"),
        ("<@123456789> <@!42> wen is it", "wen is it"),
        ("<@&77> in <#99> who won? <:pog:123456> <a:dance:1>", "in who won?"),
        ("what date? https://example.com/a?b=1 www.example.org", "what date?"),
        ("@here since <t:1700000000:R> what happened", "since what happened"),
    ],
)
def test_discord_markup_and_urls_are_not_question_words(question: str, cleaned: str) -> None:
    assert clean_question(question, 1000) == cleaned


def test_a_question_of_markup_alone_is_refused_politely() -> None:
    with pytest.raises(QuestionError, match="in words"):
        clean_question("@everyone <@123> https://example.com", 1000)
    assert strip_markup("plain words stay") == "plain words stay"


def test_a_quote_without_its_speaker_is_cited_with_the_attribution_next_to_it() -> None:
    sentences = sentences_of(TEXT)
    texts = [s.text for s in sentences]
    continued = texts.index("“It will change the city.”")
    assert speaker_neighbour(sentences, continued, asks_speaker=False) == continued - 1
    said = texts.index("“We have waited forty years for this,” the mayor said.")
    assert speaker_neighbour(sentences, said, asks_speaker=False) is None  # names its speaker already
    plain = texts.index("The new bridge over the Tagus opens on 4 May.")
    assert speaker_neighbour(sentences, plain, asks_speaker=False) is None  # not a quotation


def test_a_question_about_the_speaker_takes_in_the_speech_verb() -> None:
    text = "The plan is reckless and will fail. That was the verdict of Ana Ruiz, who told reporters so on Monday."
    sentences = sentences_of(text)
    assert asks_for_speaker("Who said the plan was reckless?")
    assert asks_for_speaker("According to whom will the plan fail?")
    assert not asks_for_speaker("Who built the bridge?")
    assert speaker_neighbour(sentences, 0, asks_speaker=True) == 1
    assert speaker_neighbour(sentences, 0, asks_speaker=False) is None


@pytest.mark.parametrize(
    ("text", "span", "expected"),
    [
        ("It opens on 4 May, officials said.", (11, 18), "4 May"),
        ("The toll is “too high”.", (11, 23), "too high"),
        ("Paid by the EU (mostly).", (12, 24), "EU (mostly)"),
        ("...", (0, 3), ""),
    ],
)
def test_short_answers_lose_surrounding_punctuation(text: str, span: tuple[int, int], expected: str) -> None:
    start, end = trim_span(text, *span)
    assert text[start:end] == expected


def _answer_with_short(text: str, short: ShortAnswer) -> Answer:
    start = text.index("The new bridge")
    end = start + len("The new bridge over the Tagus opens on 4 May.")
    citation = Citation(1, "bridge.txt", start, end, text[start:end])
    return Answer(
        "When does it open?", f"{short.text} [1]\n{citation.passage} [1]", True, [citation], short_answer=short
    )


def test_a_verified_short_answer_is_kept() -> None:
    start = TEXT.index("4 May")
    answer = verify_citations(
        _answer_with_short(TEXT, ShortAnswer("4 May", "bridge.txt", start, start + 5)), {"bridge.txt": TEXT}.get
    )
    assert answer.short_answer == ShortAnswer("4 May", "bridge.txt", start, start + 5)
    assert answer.answer.startswith("4 May [1]\n")
    assert answer.to_dict()["short_answer"] == {
        "text": "4 May",
        "source": "bridge.txt",
        "start": start,
        "end": start + 5,
    }


@pytest.mark.parametrize(
    "short",
    [
        ShortAnswer("5 May", "bridge.txt", TEXT.index("4 May"), TEXT.index("4 May") + 5),  # not the source's words
        ShortAnswer("toll", "bridge.txt", TEXT.index("toll"), TEXT.index("toll") + 4),  # outside the quote
    ],
)
def test_a_short_answer_that_fails_verification_is_dropped_with_its_line(short: ShortAnswer) -> None:
    answer = verify_citations(_answer_with_short(TEXT, short), {"bridge.txt": TEXT}.get)
    assert answer.short_answer is None
    assert answer.grounded
    assert answer.answer == "The new bridge over the Tagus opens on 4 May. [1]"
    assert answer.to_dict()["short_answer"] is None


def test_sentence_ids_are_stable_and_offsets_exact() -> None:
    first, second = sentences_of(TEXT), sentences_of(TEXT)
    assert [s.id for s in first] == [s.id for s in second]
    assert len({s.id for s in first}) == len(first)
    for sentence in first:
        assert TEXT[sentence.start : sentence.end] == sentence.text
    assert [s.text for s in first] == [TEXT[s.start : s.end] for s in split_sentences(TEXT)]


def test_a_follow_up_keeps_its_question_word_and_borrows_the_subject() -> None:
    history = (Turn("Where will Brandt meet Calloway?", "In the town hall [1]"), Turn("When?", "March 14 [1]"))
    assert standalone_query(AnswerRequest("And why?", history), 3) == "And why? will Brandt meet Calloway"
    assert standalone_query(AnswerRequest("Who chairs the harbour board?", history), 3) == (
        "Who chairs the harbour board?"
    )  # not a follow-up: asked as it is
    assert standalone_query(AnswerRequest("And why?", history), 0) == "And why?"


@pytest.mark.parametrize(
    ("typed", "read"),
    [
        ("wen is the meeting", "when is the meeting"),
        ("wats up w/ the govt", "what's up with the government"),
        ("what is the y-axis?", "what is the y-axis?"),  # letters inside words and names stay
        ("Wendy asked what happened", "Wendy asked what happened"),
    ],
)
def test_chat_spellings_are_read_as_the_words_they_stand_for(typed: str, read: str) -> None:
    assert spelled_out(typed) == read
    assert standalone_query(AnswerRequest(typed), 3) == read
