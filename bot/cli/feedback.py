"""``storybot feedback export``: 👍 / 👎 votes and refused questions as a ``storybot eval`` file."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TextIO

import typer

from bot.cli.common import app, err
from bot.cli.state import open_bot_database
from index.errors import StoryBotError

if TYPE_CHECKING:
    from bot.admin import ExportRow

feedback_app = typer.Typer(
    name="feedback", help="Members' feedback from Discord: votes and refused questions.", no_args_is_help=True
)
app.add_typer(feedback_app)

ExportCollection = Annotated[
    str | None,
    typer.Option("--collection", "-c", help="Only this collection (a server's is guild-<id>); default: all."),
]
OutputOption = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.", dir_okay=False)
]


@feedback_app.command("export")
def export_command(collection: ExportCollection = None, output: OutputOption = None) -> None:
    """Write JSON lines for `storybot eval`: 👍 answers as tests, 👎 and refused questions for review."""
    from bot.admin import feedback_rows, write_jsonl
    from config import load_settings

    with open_bot_database(load_settings()) as database:
        rows = feedback_rows(database.iter_feedback(collection))
    with _destination(output) as stream:
        write_jsonl(rows, stream)
    err.print(export_summary(rows, output), soft_wrap=True, markup=False)


def export_summary(rows: list[ExportRow], output: Path | None) -> str:
    """One line on stderr: how many tests and how many rows to review, and where they went."""
    if not rows:
        return "No feedback yet: nobody has voted on an answer and no question was refused."
    review = sum(row.review for row in rows)
    where = f" to {output}" if output is not None else ""
    return f"Exported {len(rows) - review} tests and {review} questions to review{where}."


@contextlib.contextmanager
def _destination(output: Path | None) -> Iterator[TextIO]:
    """stdout, or a file replaced only once it is complete (an interrupted export leaves the old one)."""
    if output is None:
        yield sys.stdout
        sys.stdout.flush()
        return
    directory = output.parent if str(output.parent) else Path(".")
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{output.name}.", dir=directory)
    except OSError as exc:
        raise StoryBotError(f"Cannot write to {output.parent}: {exc.strerror}.") from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            yield stream
        os.replace(temporary, output)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
