"""Rendering and splitting: every page fits Discord's limits and nothing is lost."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.answering.chain import NOT_IN_STORY
from bot.answering.data import Answer, Citation, Summary, SummaryLine
from bot.discord import limits
from bot.discord.render import (
    Field,
    escape_markdown,
    page_length,
    paginate,
    passage_context,
    render_answer,
    render_help,
    render_passage,
    render_sources,
    render_summary,
    short_quote,
)
from index.store import SourceInfo

TEXT = "Alpha beta gamma. Delta epsilon zeta! Eta theta iota? Kappa lambda mu.\n\nNu xi omicron pi rho."


def fits(page_list: list) -> bool:
    return all(
        len(p.title) <= limits.EMBED_TITLE
        and len(p.description) <= limits.EMBED_DESCRIPTION
        and len(p.fields) <= limits.EMBED_FIELDS
        and all(1 <= len(f.name) <= limits.FIELD_NAME and 1 <= len(f.value) <= limits.FIELD_VALUE for f in p.fields)
        and page_length(p) <= limits.EMBED_TOTAL
        for p in page_list
    )


# --- limits ---------------------------------------------------------------------------------


def test_truncate_cuts_at_a_word_and_marks_the_cut() -> None:
    assert limits.truncate("short", 10) == "short"
    cut = limits.truncate("one two three four five six", 14)
    assert cut == "one two three…"
    assert len(cut) <= 14
    assert limits.truncate("abcdefghij", 5) == "abcd…"


def test_split_text_prefers_paragraphs_then_sentences_then_words() -> None:
    assert limits.split_text(TEXT, 1000) == [TEXT]
    assert limits.split_text(TEXT, 80) == [TEXT.split("\n\n")[0], TEXT.split("\n\n")[1]]
    sentences = limits.split_text("One two three. Four five six. Seven eight nine.", 32)
    assert sentences == ["One two three. Four five six.", "Seven eight nine."]
    assert limits.split_text("a" * 25, 10) == ["a" * 10, "a" * 10, "a" * 5]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab .\n!?"), max_size=600), st.integers(min_value=1, max_value=120))
def test_split_text_never_exceeds_the_limit_or_loses_a_character(text: str, limit: int) -> None:
    pieces = limits.split_text(text, limit)
    assert all(len(piece) <= limit for piece in pieces)
    assert re.sub(r"\s", "", "".join(pieces)) == re.sub(r"\s", "", text)


# --- pages ----------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(
    st.text(max_size=400),
    st.text(max_size=12000),
    st.lists(st.tuples(st.text(min_size=1, max_size=400), st.text(min_size=1, max_size=2000)), max_size=40),
)
def test_paginate_always_fits_every_limit(title: str, body: str, raw_fields: list[tuple[str, str]]) -> None:
    pages = paginate(title or "t", body, [Field(n, v) for n, v in raw_fields])
    assert fits(pages)
    assert sum(len(p.fields) for p in pages) == len(raw_fields)
    if len(pages) > 1:
        assert [p.footer for p in pages] == [f"Page {i}/{len(pages)}" for i in range(1, len(pages) + 1)]


def citation(n: int, passage: str = "Petro will meet Trump on February 3.", start: int = 0) -> Citation:
    return Citation(n, "story.txt", start, start + len(passage), passage)


def test_a_grounded_answer_shows_the_text_and_numbered_short_quotes() -> None:
    long_passage = "word " * 200
    answer = Answer(
        "When?", "Petro will meet Trump on February 3. [1] word… [2]", True, [citation(1), citation(2, long_passage)]
    )
    [page] = render_answer(answer)
    assert page.title == "When?"
    assert "February 3" in page.description
    assert [f.name for f in page.fields] == ["[1] story.txt", "[2] story.txt"]
    assert page.fields[0].value == "“Petro will meet Trump on February 3.”"
    assert page.fields[1].value.endswith("…”")
    assert len(page.fields[1].value) < 240
    assert page.citations == (1, 2)


def test_a_refusal_says_so_and_quotes_nothing() -> None:
    related = [citation(1)]
    [page] = render_answer(Answer("Who won the cup?", NOT_IN_STORY, False, related=related))
    assert NOT_IN_STORY in page.description
    assert page.fields == ()
    assert page.citations == ()
    assert "February" not in page.description


def test_long_answers_spread_over_pages_and_each_page_knows_its_citations() -> None:
    body = " ".join(f"Sentence number {i} is here [{1 + i % 3}]." for i in range(600))
    answer = Answer("q", body, True, [citation(n) for n in (1, 2, 3)])
    pages = render_answer(answer)
    assert len(pages) > 1
    assert fits(pages)
    assert all(set(p.citations) <= {1, 2, 3} for p in pages)
    assert pages[-1].fields  # the citations come after the text


def test_markdown_in_quotes_is_escaped_so_they_read_verbatim() -> None:
    assert escape_markdown("*bold* _it_ `code` ~x~ |s|") == r"\*bold\* \_it\_ \`code\` \~x\~ \|s\|"
    assert escape_markdown("# title\n> quote\n- item") == "\\# title\n\\> quote\n\\- item"
    assert short_quote("a  *b*\n c") == "“a \\*b\\* c”"


def test_summaries_render_like_answers() -> None:
    summary = Summary(
        "key-points",
        [SummaryLine("Petro will meet Trump. [1]", (1,)), SummaryLine("They spoke by phone. [2]", (2,))],
        [citation(1), citation(2, "They spoke by phone.", 100)],
    )
    [page] = render_summary(summary)
    assert page.title == "Summary: Key points"
    assert page.description == "• Petro will meet Trump. [1]\n• They spoke by phone. [2]"
    assert [f.name for f in page.fields] == ["[1] story.txt", "[2] story.txt"]
    [empty] = render_summary(Summary("who", [], []))
    assert "enough to summarize" in empty.description


def test_passage_context_cuts_at_words_and_marks_the_cuts() -> None:
    text = "zero one two three four five six seven eight nine ten eleven twelve"
    start = text.index("six")
    ctx = passage_context(text, start, start + 3, context_chars=12)
    assert ctx.passage == "six"
    assert ctx.before.startswith("…")
    assert ctx.after.endswith("…")
    assert text[start - 12 : start].endswith(ctx.before.lstrip("…"))
    whole = passage_context("just this", 0, 9)
    assert (whole.before, whole.after) == ("", "")


def test_render_passage_bolds_the_passage_inside_its_context() -> None:
    text = "Before the passage. Petro will meet Trump on February 3. After the passage."
    start = text.index("Petro")
    cited = citation(1, "Petro will meet Trump on February 3.", start)
    page = render_passage(cited, text)
    assert page.description == "Before the passage. **Petro will meet Trump on February 3.** After the passage."
    assert page.footer.startswith(f"characters {start}–{cited.end}")
    assert render_passage(cited, None).description == "**Petro will meet Trump on February 3.**"
    huge = citation(1, "x" * 5000)
    assert fits([render_passage(huge, "x" * 5000)])


def test_sources_and_help() -> None:
    [page] = render_sources([SourceInfo("a.txt", 1, 1200), SourceInfo("b*.md", 3, 10)], "here")
    assert page.description == "• **a.txt**: 1 passage, 1,200 characters\n• **b\\*.md**: 3 passages, 10 characters"
    many = render_sources([SourceInfo(f"doc-{i}-{'x' * 80}.txt", i, i) for i in range(200)], "here")
    assert len(many) > 1
    assert fits(many)
    assert "1000 characters" in render_help(1000).description
