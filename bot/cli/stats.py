"""``storybot stats``: what was asked, answered and not, per server, as ``/stats`` shows it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from bot.cli.common import JsonOption, app, out, print_json
from bot.cli.state import open_bot_database

if TYPE_CHECKING:
    from bot.admin import StatsReport, StatsWindow

DIRECT_MESSAGES = "dm"
NOTHING_YET = "No questions were asked in the last {days} days."

GuildOption = Annotated[
    str | None,
    typer.Option("--guild", "-g", help="One server's id, or 'dm' for direct messages (default: every server)."),
]


def guild_scope(value: str) -> str | None:
    """A server id as stored (digits), or None for direct messages."""
    text = value.strip()
    if text.lower() == DIRECT_MESSAGES:
        return None
    if not text.isdigit():
        raise typer.BadParameter(f"expected a server id (digits) or '{DIRECT_MESSAGES}', not {value!r}")
    return text


@app.command("stats")
def stats_command(guild: GuildOption = None, as_json: JsonOption = False) -> None:
    """Questions asked, answered and refused, latency, votes and the top unanswered questions."""
    from bot.admin import WINDOW_DAYS, build_stats_report, stats_reports
    from config import load_settings

    scope = None if guild is None else guild_scope(guild)
    with open_bot_database(load_settings()) as database:
        reports = [build_stats_report(database, scope)] if guild is not None else stats_reports(database)
    if as_json:
        print_json({"reports": [report.to_dict() for report in reports]})
        return
    shown = [report for report in reports if not report.empty]
    if not shown:
        out.print(NOTHING_YET.format(days=max(WINDOW_DAYS)))
    for report in shown:
        print_report(report)


def print_report(report: StatsReport) -> None:
    """A table with one column per window, then each window's most-asked unanswered questions."""
    where = "direct messages" if report.guild_id is None else f"server {report.guild_id}"
    table = Table("", *(f"last {w.days} days" for w in report.windows), title=f"storybot stats: {where}")
    for label, cell in TABLE_ROWS:
        table.add_row(label, *(cell(window) for window in report.windows))
    out.print(table)
    for window in report.windows:
        if window.unanswered:
            out.print(f"Asked most and not answered, last {window.days} days:")
            for entry in window.unanswered:
                out.print(f"  {entry.count}× {escape(entry.question)}")


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f} ms"


TABLE_ROWS: tuple[tuple[str, Callable[[StatsWindow], str]], ...] = (
    ("questions asked", lambda w: str(w.questions.asked)),
    ("answered", lambda w: str(w.questions.answered)),
    ("refused (not in the documents)", lambda w: str(w.questions.refused)),
    ("answer time p50", lambda w: _ms(w.questions.latency_p50_ms)),
    ("answer time p95", lambda w: _ms(w.questions.latency_p95_ms)),
    ("👍 / 👎", lambda w: f"{w.votes.up} / {w.votes.down}"),
)
