"""``/stats`` as a page: each window's counts, latency and votes, and what was not answered.

Questions are members' own words, shown to an admin: each is one line, cut to a length, escaped
so that markdown shows as typed, and with every ``@`` broken so that nothing reads as a mention.
"""

from __future__ import annotations

from bot.admin import StatsReport, StatsWindow
from bot.discord import limits
from bot.discord.render import INFO_COLOUR, Field, Page, escape_markdown
from bot.state import UnansweredQuestion

TITLE = "Questions asked here"
QUESTION_CHARS = 150
INTRO = (
    "What members asked me (with /ask, mentions and in threads) and how it went. Questions I "
    "refused are ones the documents don't answer: adding a document that covers them "
    "(`/docs add`) is how to fix that."
)
NOTHING_YET = "Nobody has asked me anything here in the last {days} days."
FOOTER = "Latency is the time to compute an answer; 👍 / 👎 count votes cast in the period."
ZERO_WIDTH_SPACE = "\u200b"


def safe_question(question: str) -> str:
    """A member's question as one inert line of an embed."""
    flat = limits.truncate(" ".join(question.split()), QUESTION_CHARS)
    return escape_markdown(flat).replace("@", "@" + ZERO_WIDTH_SPACE)


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f} ms"


def window_summary(window: StatsWindow) -> str:
    q, votes = window.questions, window.votes
    return (
        f"Asked **{q.asked}** · answered **{q.answered}** · refused **{q.refused}**\n"
        f"Answer time: p50 {_ms(q.latency_p50_ms)} · p95 {_ms(q.latency_p95_ms)}\n"
        f"👍 **{votes.up}** · 👎 **{votes.down}**"
    )


def unanswered_lines(entries: tuple[UnansweredQuestion, ...]) -> str:
    return "\n".join(f"**{entry.count}×** “{safe_question(entry.question)}”" for entry in entries)


def window_fields(window: StatsWindow) -> list[Field]:
    fields = [Field(f"Last {window.days} days", window_summary(window))]
    if window.unanswered:
        name = f"Asked most and not answered, last {window.days} days"
        fields.append(Field(name, limits.truncate(unanswered_lines(window.unanswered), limits.FIELD_VALUE)))
    return fields


def render_stats(report: StatsReport) -> Page:
    """One page (a report is small: at most two windows of five questions each)."""
    if report.empty:
        days = max((window.days for window in report.windows), default=30)
        return Page(TITLE, NOTHING_YET.format(days=days), colour=INFO_COLOUR)
    fields = tuple(field for window in report.windows for field in window_fields(window))
    return Page(TITLE, INTRO, fields, INFO_COLOUR, FOOTER)
