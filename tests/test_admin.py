"""The admin reports as plain functions over a real (SQLite) database: the stats report and its
page, the feedback export, and how `storybot eval` treats exported rows flagged for review.

Time comes from a clock the tests move; no function of story-bot is replaced.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.admin import build_stats_report, feedback_rows, stats_reports, write_jsonl
from bot.admin.export import accepted_answer
from bot.answering.data import Answer
from bot.answering.evaluation import evaluate, read_eval_rows
from bot.discord import limits
from bot.discord.render import page_length
from bot.discord.stats_page import render_stats, safe_question
from bot.state import Database, open_database

START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@dataclass
class Clock:
    now: datetime = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def db(tmp_path: Path, clock: Clock) -> Iterator[Database]:
    with open_database(None, tmp_path / "state", clock=clock) as database:
        yield database


def grounded_payload(question: str, short: str | None, quote: str) -> dict[str, Any]:
    """An answer's payload as the bot saves it (the `storybot ask --json` contract)."""
    return {
        "v": 1,
        "question": question,
        "answer": (f"{short} [1]\n" if short else "") + f"{quote} [1]",
        "short_answer": {"text": short, "source": "s.txt", "start": 0, "end": len(short)} if short else None,
        "grounded": True,
        "citations": [{"n": 1, "source": "s.txt", "start": 0, "end": len(quote), "passage": quote, "score": 1.0}],
        "mode": "extractive",
    }


REFUSAL = {"v": 1, "question": "?", "answer": "The story doesn't say.", "grounded": False, "citations": []}


def answer(db: Database, question: str, payload: dict[str, Any], guild_id: str | None = "1") -> str:
    return db.save_answer(collection="guild-1", question=question, payload=payload, guild_id=guild_id)


def ask(db: Database, question: str, *, grounded: bool, latency_ms: float = 10.0, guild_id: str | None = "1") -> None:
    db.log_question(
        guild_id=guild_id, collection="guild-1", question=question, grounded=grounded, latency_ms=latency_ms
    )


# --- the stats report --------------------------------------------------------------------------


def test_the_report_has_a_7_and_a_30_day_window(db: Database, clock: Clock) -> None:
    ask(db, "Who is the mayor?", grounded=False, latency_ms=40)  # 20 days before the report
    ask(db, "When is the vote?", grounded=True, latency_ms=30)
    voted = answer(db, "When is the vote?", grounded_payload("When is the vote?", "May 2", "The vote is on May 2."))
    db.record_vote(voted, "u1", -1, message_id=None)
    clock.now += timedelta(days=20)
    for latency in (10, 20, 30):
        ask(db, "who is the MAYOR? ", grounded=False, latency_ms=latency)
    ask(db, "Where is the hall?", grounded=True, latency_ms=5)
    db.record_vote(voted, "u2", 1, message_id=None)
    ask(db, "elsewhere", grounded=False, guild_id="2")

    report = build_stats_report(db, "1")

    week, month = report.windows
    assert (week.days, week.questions.asked, week.questions.answered, week.questions.refused) == (7, 4, 1, 3)
    assert (week.questions.latency_p50_ms, week.questions.latency_p95_ms) == (10.0, 30.0)
    assert (week.votes.up, week.votes.down) == (1, 0)  # the 👎 was cast 20 days ago
    assert (month.questions.asked, month.questions.refused, month.votes.up, month.votes.down) == (6, 4, 1, 1)
    assert [(u.question.casefold(), u.count) for u in week.unanswered] == [("who is the mayor?", 3)]
    assert [(u.question.casefold(), u.count) for u in month.unanswered] == [("who is the mayor?", 4)]
    assert report.to_dict()["windows"][0]["top_unanswered"][0]["count"] == 3
    assert json.loads(json.dumps(report.to_dict()))["guild_id"] == "1"


def test_a_report_over_every_guild_skips_the_quiet_ones(db: Database, clock: Clock) -> None:
    ask(db, "long ago", grounded=True, guild_id="7")
    clock.now += timedelta(days=40)
    ask(db, "q", grounded=True, guild_id="20")
    ask(db, "q", grounded=False, guild_id=None)
    reports = stats_reports(db)
    assert [report.guild_id for report in reports] == ["20", None]
    assert not any(report.empty for report in reports)
    assert build_stats_report(db, "7").empty


def test_the_stats_page_fits_discord_and_shows_questions_inertly(db: Database) -> None:
    hostile = "**Bold** _claim_ `code` > quote ||spoiler|| @everyone <@123> " + "very long " * 40
    for n in range(7):
        ask(db, f"{hostile} {n}", grounded=False)
    page = render_stats(build_stats_report(db, "1"))
    assert [field.name for field in page.fields] == [
        "Last 7 days",
        "Asked most and not answered, last 7 days",
        "Last 30 days",
        "Asked most and not answered, last 30 days",
    ]
    assert "Asked **7** · answered **0** · refused **7**" in page.fields[0].value
    shown = page.fields[1].value
    assert len(shown.splitlines()) == 5  # the top five
    assert "\\*\\*Bold\\*\\*" in shown
    assert "\\`code\\`" in shown
    assert "\\|\\|spoiler" in shown
    assert "@everyone" not in shown
    assert "<@123>" not in shown
    assert all(len(field.value) <= limits.FIELD_VALUE for field in page.fields)
    assert page_length(page) <= limits.EMBED_TOTAL
    assert len(safe_question("x" * 500)) <= 150


def test_an_empty_report_says_so(db: Database) -> None:
    page = render_stats(build_stats_report(db, "1"))
    assert page.description == "Nobody has asked me anything here in the last 30 days."
    assert page.fields == ()


# --- the feedback export -----------------------------------------------------------------------


def test_votes_and_refusals_become_tests_and_rows_to_review(db: Database, clock: Clock) -> None:
    liked = answer(db, "When is the vote?", grounded_payload("When is the vote?", "May 2", "The vote is on May 2."))
    quoted = answer(db, "Who won?", grounded_payload("Who won?", None, "Ada Finch won the race."))
    disliked = answer(db, "Where?", grounded_payload("Where?", "Oslo", "It happened in Oslo."))
    mixed = answer(db, "Why?", grounded_payload("Why?", "the rain", "It was because of the rain."))
    refusal = answer(db, "What is a snark?", REFUSAL)
    summary = db.save_answer(collection="guild-1", question="Summary", payload={}, kind="summary")
    for answer_id, user, vote in (
        (liked, "a", 1),
        (liked, "b", 1),
        (quoted, "a", 1),
        (disliked, "a", -1),
        (mixed, "a", 1),
        (mixed, "b", -1),
        (refusal, "a", 1),
        (summary, "a", 1),
    ):
        db.record_vote(answer_id, user, vote, message_id=None)
    db.set_vote_reason(disliked, "a", "it was in Bergen")
    for question in ("Who is the Hatter?", "who is  the hatter?", "What is a snark?"):
        ask(db, question, grounded=False)
    other = db.save_answer(collection="elsewhere", question="Q", payload=REFUSAL)
    db.record_vote(other, "a", 1, message_id=None)

    rows = {row.question: row for row in feedback_rows(db.iter_feedback("guild-1"))}

    assert set(rows) == {"When is the vote?", "Who won?", "Where?", "Why?", "What is a snark?", "Who is the Hatter?"}
    assert (rows["When is the vote?"].answers, rows["When is the vote?"].review) == (("May 2",), False)
    assert (rows["When is the vote?"].votes_up, rows["When is the vote?"].origin) == (2, "upvoted")
    assert rows["Who won?"].answers == ("Ada Finch won the race.",)  # no short answer: the quote
    where = rows["Where?"]
    assert (where.origin, where.review, where.answers, where.reasons) == ("downvoted", True, (), ("it was in Bergen",))
    assert where.answer_given == "Oslo [1]\nIt happened in Oslo. [1]"
    assert (rows["Why?"].origin, rows["Why?"].review, rows["Why?"].answers) == ("mixed", True, ("the rain",))
    snark = rows["What is a snark?"]  # a 👍 on "the story doesn't say": a confirmed refusal, not a review
    assert (snark.origin, snark.unanswerable, snark.review) == ("upvoted", True, False)
    hatter = rows["Who is the Hatter?"]
    assert (hatter.origin, hatter.unanswerable, hatter.review, hatter.asked) == ("refused", True, True, 2)
    assert len({row.id for row in rows.values()}) == len(rows)
    assert {row.collection for row in feedback_rows(db.iter_feedback(None))} == {"guild-1", "elsewhere"}


def test_the_short_answer_is_preferred_then_the_first_quote() -> None:
    assert accepted_answer(grounded_payload("q", "May 2", "On May 2.")) == "May 2"
    assert accepted_answer(grounded_payload("q", None, "On May 2.")) == "On May 2."
    assert accepted_answer(REFUSAL) is None


def test_eval_reads_the_export_and_scores_only_rows_nobody_must_review(db: Database, tmp_path: Path) -> None:
    liked = answer(db, "When is the vote?", grounded_payload("When is the vote?", "May 2", "The vote is on May 2."))
    refused_ok = answer(db, "Who is the king?", REFUSAL)
    disliked = answer(db, "Where?", grounded_payload("Where?", "Oslo", "It happened in Oslo."))
    for answer_id, vote in ((liked, 1), (refused_ok, 1), (disliked, -1)):
        db.record_vote(answer_id, "a", vote, message_id=None)
    ask(db, "What is a snark?", grounded=False)
    stream = io.StringIO()
    assert write_jsonl(feedback_rows(db.iter_feedback("guild-1")), stream) == 4
    path = tmp_path / "feedback.jsonl"
    path.write_text(stream.getvalue(), encoding="utf-8")

    rows = read_eval_rows(path)
    assert [(row.question, row.review, row.unanswerable) for row in rows] == [
        ("When is the vote?", False, False),
        ("Who is the king?", False, True),
        ("Where?", True, False),
        ("What is a snark?", True, True),
    ]

    asked: list[str] = []

    def bot(question: str) -> Answer:
        asked.append(question)
        if question == "When is the vote?":
            return Answer(question, "May 2 [1]\nThe vote is on May 2. [1]", grounded=True)
        return Answer(question, "The story doesn't say.", grounded=False)

    report = evaluate(rows, bot, lambda source: None)
    assert asked == ["When is the vote?", "Who is the king?"]  # rows to review are not asked
    assert (report.answered_correctly, report.answerable, report.refused_correctly, report.unanswerable) == (1, 1, 1, 1)
    assert report.review == 2
    assert report.to_dict()["review"] == 2
