"""The admin stats: questions asked, answered and refused, latency, votes and the questions most
often left unanswered, over the last 7 and 30 days."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.state import Database, QuestionStats, UnansweredQuestion, VoteCounts

WINDOW_DAYS = (7, 30)
TOP_UNANSWERED = 5


@dataclass(frozen=True, slots=True)
class StatsWindow:
    """One period of the report: the last ``days`` days."""

    days: int
    questions: QuestionStats
    votes: VoteCounts
    unanswered: tuple[UnansweredQuestion, ...]

    @property
    def empty(self) -> bool:
        return self.questions.asked == 0 and self.votes.total == 0

    def to_dict(self) -> dict[str, Any]:
        q = self.questions
        return {
            "days": self.days,
            "asked": q.asked,
            "answered": q.answered,
            "refused": q.refused,
            "latency_p50_ms": _rounded(q.latency_p50_ms),
            "latency_p95_ms": _rounded(q.latency_p95_ms),
            "votes_up": self.votes.up,
            "votes_down": self.votes.down,
            "top_unanswered": [
                {"question": u.question, "count": u.count, "last_asked": u.last_asked.isoformat()}
                for u in self.unanswered
            ],
        }


@dataclass(frozen=True, slots=True)
class StatsReport:
    """The stats of one guild (``guild_id`` None: direct messages), as of ``generated_at``."""

    guild_id: str | None
    generated_at: datetime
    windows: tuple[StatsWindow, ...]

    @property
    def empty(self) -> bool:
        """Nothing asked and no vote in any window: the renderers say so instead of a table of zeros."""
        return all(window.empty for window in self.windows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "guild_id": self.guild_id,
            "generated_at": self.generated_at.isoformat(),
            "windows": [window.to_dict() for window in self.windows],
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def build_stats_report(
    database: Database,
    guild_id: str | None,
    *,
    now: datetime | None = None,
    windows: tuple[int, ...] = WINDOW_DAYS,
    top: int = TOP_UNANSWERED,
) -> StatsReport:
    """The report for one guild (blocking: the bot calls it from a worker thread)."""
    moment = now or database.clock()
    return StatsReport(guild_id, moment, tuple(_window(database, guild_id, moment, days, top) for days in windows))


def _window(database: Database, guild_id: str | None, now: datetime, days: int, top: int) -> StatsWindow:
    since = now - timedelta(days=days)
    return StatsWindow(
        days=days,
        questions=database.question_stats(guild_id, since),
        votes=database.vote_counts(guild_id, since),
        unanswered=tuple(database.top_unanswered(guild_id, since, limit=top)),
    )


def stats_reports(
    database: Database, *, now: datetime | None = None, windows: tuple[int, ...] = WINDOW_DAYS
) -> list[StatsReport]:
    """A report for every guild (and direct messages) that asked anything in the longest window."""
    moment = now or database.clock()
    since = moment - timedelta(days=max(windows))
    return [
        build_stats_report(database, guild_id, now=moment, windows=windows)
        for guild_id in database.guilds_with_questions(since)
    ]
