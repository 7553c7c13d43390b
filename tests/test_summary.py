"""The summarizer on a small story written for it and on CNN/DailyMail articles: every mode, every
citation verbatim. (Summaries of the bundled seed story are tested in tests/test_seed_story.py.)"""

from __future__ import annotations

import itertools
import json
import math
import re
from datetime import date
from pathlib import Path

import pytest

from bot.answering.data import Summary
from bot.summaries.dates import find_anchor, mentions_in_sentence, sentence_tense
from bot.summaries.entities import find_entities
from bot.summaries.quotes import find_quotes
from bot.summaries.salience import RunningSum, document_sentences, dot, tfidf_vectors
from bot.summaries.summarize import (
    MODES,
    SummaryError,
    SummaryOptions,
    check_mode,
    key_point_count,
    summarize_document,
    summarize_documents,
)
from index.loaders import LoadedDocument
from index.text import tokenize

DATA = Path(__file__).parent / "data"
CNN_FILES = ("cnndm-hepatitis-bishop.txt", "cnndm-police-lieutenant.txt", "cnndm-china-karzai.txt")

# A news-like story with what every mode looks for: a future date and a past one, people, an
# organization, places, and quotes (one across two sentences, one after "He also said").
RAIL_TALKS = LoadedDocument(
    "rail-talks.txt",
    "Rail Talks Set for May\n\n"
    "Mayor Elena Duarte will meet rail director Viktor Hale on May 22, after a winter of complaints about "
    "cancelled trains.\n"
    "Duarte made the announcement at a session of the Valley Transport Board, where she said the people of "
    "Millbrook had waited long enough.\n"
    "This came after Duarte and Hale spoke by phone last week. After the call, Hale described the conversation "
    "as “a fresh start.”\n"
    "“We will not leave the commuters stranded. They are waiting for an answer,” Duarte said in a statement.\n"
    "The line's two trains were built in Norway in 1998 and often break down in winter storms.\n"
    "Hale had earlier called the station fees “far too high.” He also said Duarte should “fix her own platforms "
    "first.”",
)


def load(name: str) -> LoadedDocument:
    return LoadedDocument(name, (DATA / name).read_text(encoding="utf-8").strip())


def all_documents() -> list[LoadedDocument]:
    return [RAIL_TALKS, *(load(name) for name in CNN_FILES)]


def line_with(summary: Summary, needle: str) -> str:
    matches = [line.text for line in summary.lines if needle in line.text]
    assert matches, f"no line mentions {needle!r}:\n{summary.text()}"
    return matches[0]


def line_index(summary: Summary, needle: str) -> int:
    return next(i for i, line in enumerate(summary.lines) if needle in line.text)


# --- the contract every mode keeps ---------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("document", all_documents(), ids=lambda d: d.source)
def test_every_citation_is_verbatim_and_every_line_cited(document: LoadedDocument, mode: str) -> None:
    summary = summarize_document(document, mode)
    assert summary.mode == mode
    assert summary.source == document.source
    assert summary.lines
    for c in summary.citations:
        assert document.text[c.start : c.end] == c.passage
    numbers = {c.n for c in summary.citations}
    assert sorted(numbers) == list(range(1, len(numbers) + 1))
    for line in summary.lines:
        markers = {int(n) for n in re.findall(r"\[(\d+)\]", line.text)}
        assert markers == set(line.citations)
        assert markers <= numbers
        if summary.citations:  # a mode with findings cites on every line
            assert line.citations


def test_summary_dict_is_json_ready() -> None:
    payload = summarize_document(RAIL_TALKS, "key-points").to_dict()
    assert set(payload) >= {"source", "mode", "summary", "citations", "lines"}
    json.dumps(payload)


def test_collection_summary_has_no_source_and_cites_each_document() -> None:
    documents = all_documents()
    summary = summarize_documents(documents, "who")
    assert summary.source is None
    texts = {d.source: d.text for d in documents}
    assert {c.source for c in summary.citations} <= set(texts)
    for c in summary.citations:
        assert texts[c.source][c.start : c.end] == c.passage


# --- modes ---------------------------------------------------------------------------------------


def test_tldr_is_three_sentences_in_story_order() -> None:
    summary = summarize_document(RAIL_TALKS, "tldr")
    assert len(summary.lines) == 3
    starts = [c.start for c in summary.citations]
    assert starts == sorted(starts)
    assert "May 22" in summary.text()


def test_tldr_skips_bylines_and_datelines() -> None:
    summary = summarize_document(load("cnndm-hepatitis-bishop.txt"), "tldr")
    assert "PUBLISHED" not in summary.text()
    assert "By ." not in summary.text()
    lieutenant = summarize_document(load("cnndm-police-lieutenant.txt"), "tldr")
    assert not lieutenant.citations[0].passage.startswith("(CNN)")


@pytest.mark.parametrize("document", all_documents(), ids=lambda d: d.source)
def test_key_points_are_distinct(document: LoadedDocument) -> None:
    summary = summarize_document(document, "key-points")
    prose = len([s for s in document_sentences(document) if s.is_prose])
    assert len(summary.lines) == key_point_count(prose, summary_options_default())
    vectors = tfidf_vectors([tokenize(c.passage) for c in summary.citations])
    for a, b in itertools.combinations(vectors, 2):
        assert dot(a, b) <= 0.3


def summary_options_default() -> SummaryOptions:
    return SummaryOptions()


def test_key_point_count_is_five_to_eight() -> None:
    options = summary_options_default()
    assert key_point_count(20, options) == 5
    assert key_point_count(400, options) == 8
    assert key_point_count(3, options) == 3


def test_timeline_puts_last_weeks_call_before_the_meeting_ahead() -> None:
    summary = summarize_document(RAIL_TALKS, "timeline")
    call = line_index(summary, "spoke by phone last week")
    meeting = line_index(summary, "will meet rail director Viktor Hale on May 22")
    assert call < meeting
    assert line_with(summary, "spoke by phone").startswith("last week")
    assert "(ahead)" in summary.lines[meeting].text


def test_timeline_resolves_relative_dates_against_the_published_date() -> None:
    summary = summarize_document(load("cnndm-hepatitis-bishop.txt"), "timeline")
    monday = line_with(summary, "announced on Monday")
    assert monday.startswith("Mon 21 Oct 2013")
    september = line_with(summary, "late September")
    assert september.startswith("late September (Sep 2013)")
    assert line_index(summary, "late September") < line_index(summary, "announced on Monday")


def test_timeline_without_dates_says_so() -> None:
    document = LoadedDocument("plain.txt", "The cat sat on the mat. It was a very comfortable mat indeed.")
    summary = summarize_document(document, "timeline")
    assert summary.citations == []
    assert "no dates" in summary.text()


def test_unplaceable_dates_keep_story_order_and_are_marked() -> None:
    text = "The museum opens on March 3. The ferry sails on July 9. The bridge closed in 2019 for repairs."
    summary = summarize_document(LoadedDocument("dates.txt", text), "timeline")
    uncertain = [line.text for line in summary.lines if "order uncertain" in line.text]
    assert [t.split(" (")[0] for t in uncertain] == ["March 3", "July 9"]
    assert summary.lines[0].text.startswith("2019")


def test_who_names_the_people_and_organizations() -> None:
    summary = summarize_document(RAIL_TALKS, "who")
    assert line_with(summary, "Elena Duarte (person)")
    assert line_with(summary, "Viktor Hale (person)")
    assert line_with(summary, "Valley Transport Board (organization)")
    assert not any(line.text.startswith(("Millbrook ", "Norway ", "May ")) for line in summary.lines)
    # "Duarte" alone joins the full name instead of becoming a second entity
    assert not any(line.text.startswith("Duarte (") for line in summary.lines)


def test_who_precision_and_recall_on_hand_labels() -> None:
    """A floor under the recognizer's accuracy on the hand-labeled development articles."""
    gold = json.loads((DATA / "who_gold.json").read_text(encoding="utf-8"))
    found_total = correct = required = hit = 0
    for item in (g for g in gold if g["set"] == "development"):
        text = (DATA / item["file"]).read_text(encoding="utf-8").strip()
        found = {e.name.lower() for e in find_entities(document_sentences(LoadedDocument(item["file"], text)))}
        allowed = {n.lower() for n in item["required"] + item.get("optional", [])}
        found_total += len(found)
        correct += len(found & allowed)
        required += len(item["required"])
        hit += len({n.lower() for n in item["required"]} & found)
    assert correct / found_total >= 0.85
    assert hit / required >= 0.8


def test_quotes_attribute_the_fresh_start_to_hale() -> None:
    summary = summarize_document(RAIL_TALKS, "quotes")
    assert line_with(summary, "a fresh start").endswith(tuple(f"— Viktor Hale [{n}]" for n in range(1, 20)))
    stranded = line_with(summary, "We will not leave the commuters stranded")
    assert "They are waiting for an answer" in stranded  # one quote across two sentences
    assert "— Elena Duarte" in stranded
    assert "— Viktor Hale" in line_with(summary, "fix her own platforms")  # "He also said" → the last person named


def test_quotes_in_single_quotation_marks() -> None:
    text = "The minister spoke at length. 'We will not back down on this reform,' Jane Doe said on Friday."
    summary = summarize_document(LoadedDocument("single.txt", text), "quotes")
    assert summary.lines[0].text.startswith("“We will not back down on this reform”")
    assert "— Jane Doe" in summary.lines[0].text


def test_quotes_skip_lone_scare_quotes() -> None:
    text = "Critics called the plan a “disaster” in several reports. The council will vote on the plan next week."
    summary = summarize_document(LoadedDocument("scare.txt", text), "quotes")
    assert summary.citations == []


# --- errors ----------------------------------------------------------------------------------------


def test_unknown_mode_lists_the_valid_ones() -> None:
    with pytest.raises(SummaryError) as error:
        summarize_document(RAIL_TALKS, "haiku")
    for mode in MODES:
        assert mode in str(error.value)


def test_mode_aliases() -> None:
    assert check_mode("Key_Points") == "key-points"
    assert check_mode(" TLDR ") == "tldr"


@pytest.mark.parametrize(
    "text",
    ["", "   \n  ", "%%%% #### 1234 5678 !!!! ---- ////", "0101 1110 0010 1011 " * 20],
)
def test_empty_or_garbage_text_is_a_clear_error(text: str) -> None:
    with pytest.raises(SummaryError, match=r"nothing to summarize|no readable sentences|no sentences"):
        summarize_document(LoadedDocument("junk.txt", text), "tldr")


# --- the parts ----------------------------------------------------------------------------------------


def test_running_sum_cosine_matches_direct_computation() -> None:
    vectors = tfidf_vectors([tokenize(t) for t in ("Duarte met Hale", "Hale threatened Millbrook", "Duarte waited")])
    total = RunningSum()
    for v in vectors:
        total.add(v)
    summed: dict[str, float] = {}
    for v in vectors:
        for term, weight in v.items():
            summed[term] = summed.get(term, 0.0) + weight
    norm = math.sqrt(sum(w * w for w in summed.values()))
    assert total.cosine(vectors[0]) == pytest.approx(dot(vectors[0], summed) / norm)


def test_find_anchor_reads_the_published_line() -> None:
    assert find_anchor("By . AP . PUBLISHED: . 14:11 EST, 25 October 2013 . | . The bishop said") == date(2013, 10, 25)
    assert find_anchor("The bishop said on 25 October 2013 that he was ill.") is None


def test_weekdays_and_month_days_resolve_by_tense() -> None:
    anchor = date(2024, 1, 10)  # a Wednesday
    past = mentions_in_sentence("Police said on Monday that the man was arrested.", 0, anchor)
    assert past[0].when == date(2024, 1, 8)
    future = mentions_in_sentence("The court will rule on Friday.", 0, anchor)
    assert future[0].when == date(2024, 1, 12)
    ahead = mentions_in_sentence("The leaders will meet on March 14.", 0, None)
    assert ahead[0].ordered
    assert ahead[0].sort_key > mentions_in_sentence("They met last week.", 0, None)[0].sort_key


def test_tense_prefers_the_verb_before_the_time() -> None:
    sentence = "Duarte said the talks will be held on June 3."
    assert sentence_tense(sentence, sentence.index("June")) == "future"


def test_ages_and_amounts_are_not_dates() -> None:
    assert mentions_in_sentence("In 2000 people marched, and the 45-year-old paid 1999 dollars.", 0, None) == []


def test_find_quotes_handles_curly_straight_and_nested_marks() -> None:
    text = 'He said “it’s over” and she said "no way, not today" before leaving.'
    assert [q.words for q in find_quotes(text)] == ["it’s over", "no way, not today"]
