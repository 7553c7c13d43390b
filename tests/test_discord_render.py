"""Rendering and splitting: every page fits Discord's limits and nothing is lost."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import discord
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.answering.chain import NOT_IN_STORY
from bot.answering.data import Answer, Citation, ShortAnswer, Summary, SummaryLine
from bot.discord import limits
from bot.discord.buttons import build_view
from bot.discord.render import (
    Field,
    SourceLabel,
    escape_markdown,
    page_length,
    paginate,
    passage_context,
    render_answer,
    render_help,
    render_listing,
    render_passage,
    render_related,
    render_sources,
    render_summary,
    short_quote,
)
from bot.discord.shown import answer_shown, summary_shown
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


def citation(n: int, passage: str = "The bridge will reopen on June 12.", start: int = 0) -> Citation:
    return Citation(n, "story.txt", start, start + len(passage), passage)


BRIDGE = "The bridge will reopen on June 12 after two years of repairs, the council said on Monday."
# What the answerer returns: the short answer, then the quoted sentence, each marked [1].
ANSWER = Answer(
    "When will the bridge reopen?",
    f"June 12 [1]\n{BRIDGE} [1]",
    True,
    [citation(1, BRIDGE)],
    short_answer=ShortAnswer("June 12", "story.txt", 26, 33),
    confidence=0.9,
)


def test_an_answer_reads_as_one_short_answer_first_quote_once_sources_on_one_line() -> None:
    [page] = render_answer(ANSWER)
    assert page.title == "When will the bridge reopen?"
    lines = page.description.split("\n")
    assert lines[0] == "**June 12**"  # the short answer, in bold, first
    assert lines[1] == f"> “{BRIDGE}” [1]"  # the quote, once, marked [1]
    assert len(lines) == 2
    assert page.description.count("June 12") == 2  # in bold, and inside the quote: never a repeated quote
    assert page.fields == ()
    assert page.footer == "story.txt [1]"
    assert page.citations == (1,)
    assert page_length(page) < 300  # about 950 characters before, to say "June 12"


def test_without_a_short_answer_the_quotes_stand_alone_and_sources_group_by_document() -> None:
    other = Citation(3, "notes.md", 0, 20, "Repairs cost a lot.")
    answer = Answer("q", "ignored [1] [2] [3]", True, [citation(1), citation(2, "Second.", 50), other])
    [page] = render_answer(answer)
    assert page.description.split("\n") == [
        "> “The bridge will reopen on June 12.” [1]",
        "> “Second.” [2]",
        "> “Repairs cost a lot.” [3]",
    ]
    assert page.footer == "story.txt [1][2] · notes.md [3]"
    assert "ignored" not in page.description  # rendered from the fields, not the text


def test_a_model_answer_shows_its_own_words_then_the_quotes() -> None:
    answer = Answer("q", "It reopens in June [1].", True, [citation(1)], mode="llm")
    [page] = render_answer(answer)
    assert page.description == "It reopens in June [1].\n> “The bridge will reopen on June 12.” [1]"


def test_long_quotes_are_cut_and_every_page_stays_readable_on_a_phone() -> None:
    long_passage = "word " * 400
    [page] = render_answer(Answer("q", "x", True, [citation(1, long_passage)]))
    assert page.description.endswith("…” [1]")
    assert len(page.description) < 400  # Show passage has the rest


def test_a_refusal_says_so_and_quotes_nothing() -> None:
    related = [citation(1)]
    [page] = render_answer(Answer("Who won the cup?", NOT_IN_STORY, False, related=related))
    assert NOT_IN_STORY in page.description
    assert page.fields == ()
    assert page.citations == ()
    assert "June" not in page.description  # the closest passage is behind a button, not in the answer
    assert page_length(page) < 300


def test_long_answers_spread_over_pages_and_each_page_knows_its_citations() -> None:
    body = " ".join(f"Sentence number {i} is here [{1 + i % 3}]." for i in range(600))
    answer = Answer("q", body, True, [citation(n) for n in (1, 2, 3)], mode="llm")
    pages = render_answer(answer)
    assert len(pages) > 1
    assert fits(pages)
    assert all(set(p.citations) <= {1, 2, 3} for p in pages)
    assert [p.footer for p in pages] == [
        f"story.txt [1][2][3] · Page {i}/{len(pages)}" for i in range(1, len(pages) + 1)
    ]
    assert pages[-1].description.endswith("> “The bridge will reopen on June 12.” [3]")  # the quotes come last


def test_the_closest_passage_is_labelled_as_not_an_answer() -> None:
    text = "Before. The bridge will reopen on June 12. After."
    page = render_related(citation(1, "The bridge will reopen on June 12.", 8), text)
    assert page.title.startswith("Closest passage (not an answer)")
    assert page.description.startswith("*This passage came closest, but it does not answer the question.*")
    assert "**The bridge will reopen on June 12.**" in page.description


def test_markdown_in_quotes_is_escaped_so_they_read_verbatim() -> None:
    assert escape_markdown("*bold* _it_ `code` ~x~ |s|") == r"\*bold\* \_it\_ \`code\` \~x\~ \|s\|"
    assert escape_markdown("# title\n> quote\n- item") == "\\# title\n\\> quote\n\\- item"
    assert short_quote("a  *b*\n c") == "“a \\*b\\* c”"


def test_summaries_render_like_answers() -> None:
    summary = Summary(
        "key-points",
        [SummaryLine("The bridge will reopen. [1]", (1,)), SummaryLine("They spoke by phone. [2]", (2,))],
        [citation(1), citation(2, "They spoke by phone.", 100)],
    )
    [page] = render_summary(summary)
    assert page.title == "Summary: Key points"
    assert page.description == "• The bridge will reopen. [1]\n• They spoke by phone. [2]"  # each sentence once
    assert page.fields == ()
    assert page.footer == "story.txt [1][2]"
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
    text = "Before the passage. The bridge will reopen on June 12. After the passage."
    start = text.index("The bridge")
    cited = citation(1, "The bridge will reopen on June 12.", start)
    page = render_passage(cited, text)
    assert page.description == "Before the passage. **The bridge will reopen on June 12.** After the passage."
    assert page.footer.startswith(f"characters {start}–{cited.end}")
    assert render_passage(cited, None).description == "**The bridge will reopen on June 12.**"
    huge = citation(1, "x" * 5000)
    assert fits([render_passage(huge, "x" * 5000)])


WEB_PAGE = {"story.txt": SourceLabel("Bridge *reopens* in June", "https://news.example/bridge (live)")}
WEB_LINK = "🔗 [Bridge \\*reopens\\* in June](https://news.example/bridge%20%28live%29)"


def test_a_web_page_passage_is_titled_by_the_page_and_links_to_it() -> None:
    text = "Before the passage. The bridge will reopen on June 12. After the passage."
    start = text.index("The bridge")
    cited = citation(2, "The bridge will reopen on June 12.", start)
    page = render_passage(cited, text, labels=WEB_PAGE)
    assert page.title == "[2] Bridge *reopens* in June"  # plain text: an embed title shows no markdown
    assert page.footer == f"characters {start}–{cited.end} of Bridge *reopens* in June"
    assert page.description == (
        f"Before the passage. **The bridge will reopen on June 12.** After the passage.\n\n{WEB_LINK}"
    )
    related = render_related(cited, text, WEB_PAGE)
    assert related.title == "Closest passage (not an answer): Bridge *reopens* in June"
    assert related.description.startswith("*This passage came closest")
    assert related.description.endswith(f"**The bridge will reopen on June 12.** After the passage.\n\n{WEB_LINK}")

    html_file = {"story.txt": SourceLabel("Bridge reopens", None)}  # a title but no address: no link
    assert render_passage(cited, text, labels=html_file).title == "[2] Bridge reopens"
    assert "🔗" not in render_passage(cited, text, labels=html_file).description
    assert render_passage(cited, text).title == "[2] story.txt"  # a plain file keeps its name

    huge = citation(1, "x" * 5000)
    long_page = render_passage(huge, "x" * 5000, labels=WEB_PAGE)
    assert fits([long_page])
    assert long_page.description.endswith(WEB_LINK)  # the passage is cut, never the link
    endless = {"story.txt": SourceLabel("Bridge", "https://news.example/" + "a" * 3000)}
    assert fits([render_passage(huge, "x" * 5000, labels=endless)])
    assert "🔗" not in render_passage(cited, text, labels=endless).description


def test_sources_and_help() -> None:
    [page] = render_sources([SourceInfo("a.txt", 1, 1200), SourceInfo("b*.md", 3, 10)], "here")
    assert page.description == "• **a.txt**: 1 passage, 1,200 characters\n• **b\\*.md**: 3 passages, 10 characters"
    many = render_sources([SourceInfo(f"doc-{i}-{'x' * 80}.txt", i, i) for i in range(200)], "here")
    assert len(many) > 1
    assert fits(many)
    help_text = render_help(1000).description
    assert "1000 characters" in help_text
    assert fits([render_help(1000)])
    admin_part = help_text[help_text.index("**For admins") : help_text.index("**Tips**")]
    for command in ("`/docs add file:`", "`/settings`", "`/stats`"):
        assert command in admin_part
    assert "Manage Server" in admin_part


def test_a_server_without_documents_is_told_plainly_where_answers_come_from() -> None:
    sample = [SourceInfo("petro-trump-meeting.txt", 12, 5000)]
    [page] = render_listing(sample, in_guild=True, own=False, sample=True)
    assert page.title == "Documents this server's answers come from"
    assert page.description.startswith(
        "This server hasn't added any documents, so its answers come from the bundled sample story."
    )
    assert "petro-trump-meeting.txt" in page.description
    [other] = render_listing(sample, in_guild=True, own=False, sample=False)
    assert "the bot's default documents" in other.description
    [own] = render_listing([SourceInfo("a.txt", 1, 10)], in_guild=True, own=True, sample=False)
    assert own.title == "Documents in this server"
    assert "hasn't added" not in own.description
    [direct] = render_listing(sample, in_guild=False, own=True, sample=True)
    assert direct.title == "Documents my answers come from"


# --- the controls under an answer -------------------------------------------------------------

ANSWER_ID = "0123456789abcdef0123456789abcdef"


def parts(view: discord.ui.View) -> list[Any]:
    """The buttons and menus of a view (dynamic items unwrapped)."""
    return [item.item if isinstance(item, discord.ui.DynamicItem) else item for item in view.children]


def test_five_citations_get_buttons_and_more_get_a_menu_with_every_one() -> None:
    five = Answer("q", "x", True, [citation(n, f"Quote number {n}.") for n in range(1, 6)])
    view = build_view(answer_shown(ANSWER_ID, five, "story", datetime.now(UTC)), 0, public=True)
    labels = [item.label for item in parts(view) if isinstance(item, discord.ui.Button)]
    assert labels[:5] == [f"Show passage [{n}]" for n in range(1, 6)]

    summary = Summary(
        "timeline",
        [SummaryLine(f"Event {n}. [{n}]", (n,)) for n in range(1, 8)],
        [citation(n, f"Event {n}.", n * 10) for n in range(1, 8)],
    )
    shown = summary_shown(ANSWER_ID, summary, "story", datetime.now(UTC))
    view = build_view(shown, 0, public=True)
    [menu] = [item for item in parts(view) if isinstance(item, discord.ui.Select)]
    assert [option.value for option in menu.options] == [str(n) for n in range(1, 8)]
    assert menu.options[0].label == "[1] story.txt"
    assert menu.options[0].description == "Event 1."
    titled = summary_shown(ANSWER_ID, summary, "story", datetime.now(UTC), WEB_PAGE)
    [menu] = [item for item in parts(build_view(titled, 0, public=True)) if isinstance(item, discord.ui.Select)]
    assert menu.options[0].label == "[1] Bridge *reopens* in June"  # a web page by its title, as in the answer
    assert len(menu.custom_id) <= 100
    votes = [item.emoji.name for item in parts(view) if isinstance(item, discord.ui.Button) and item.emoji]
    assert votes == ["👍", "👎"]


def test_a_refusal_offers_its_closest_passage_behind_a_button_and_private_pages_have_no_votes() -> None:
    refusal = Answer("q", NOT_IN_STORY, False, related=[citation(1)])
    view = build_view(answer_shown(ANSWER_ID, refusal, "story", datetime.now(UTC)), 0, public=True)
    labels = [item.label for item in parts(view) if isinstance(item, discord.ui.Button)]
    assert "Closest passage (not an answer)" in labels
    assert not any(label and label.startswith("Show passage") for label in labels)

    body = " ".join(f"Sentence number {i} is here [1]." for i in range(600))
    long = answer_shown(ANSWER_ID, Answer("q", body, True, [citation(1)], mode="llm"), "story", datetime.now(UTC))
    public = [item for item in parts(build_view(long, 0, public=True)) if isinstance(item, discord.ui.Button)]
    assert [b.label for b in public if b.label and "▶" in b.label] == ["Next ▶"]
    private = parts(build_view(long, 1, public=False))
    assert not any(isinstance(item, discord.ui.Button) and item.emoji and item.emoji.name == "👍" for item in private)
    turns = [(b.label, b.disabled) for b in private if isinstance(b, discord.ui.Button) and b.style.value == 1]
    assert turns[0] == ("◀ Previous", False)
