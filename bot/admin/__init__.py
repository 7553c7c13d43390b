"""What a server admin reads about the bot's use: the question stats and the feedback export.

Plain functions over an open :class:`bot.state.Database`, passed in, with no Discord or CLI code:
``/stats`` and ``storybot stats`` render the same :class:`StatsReport`, and ``storybot feedback
export`` writes :func:`feedback_rows` as the JSON lines ``storybot eval`` reads.
"""

from bot.admin.export import ExportRow, feedback_rows, write_jsonl
from bot.admin.stats import WINDOW_DAYS, StatsReport, StatsWindow, build_stats_report, stats_reports

__all__ = [
    "WINDOW_DAYS",
    "ExportRow",
    "StatsReport",
    "StatsWindow",
    "build_stats_report",
    "feedback_rows",
    "stats_reports",
    "write_jsonl",
]
