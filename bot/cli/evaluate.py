"""``storybot eval``: score answers against a JSON-lines evaluation file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from bot.cli.common import CollectionOption, JsonOption, app, make_service, out, print_json


@app.command("eval")
def eval_command(
    file: Annotated[Path, typer.Argument(help="JSONL rows {id, question, answers[], unanswerable, review}.")],
    collection: CollectionOption = None,
    as_json: JsonOption = False,
) -> None:
    """Score answers against an evaluation file and print a table."""
    from bot.answering.evaluation import evaluate, read_eval_rows

    rows = read_eval_rows(file)
    service = make_service()
    store = service.ensure_corpus(collection)
    service.ask("warm-up", collection)  # load the model and build indexes outside the timings
    report = evaluate(rows, lambda q: service.ask(q, collection), store.document_text)
    if as_json:
        print_json(report.to_dict())
        return
    table = Table("metric", "value", title=f"storybot eval: {escape(str(file))}")

    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.1%}"

    table.add_row("answer accuracy", f"{pct(report.answer_accuracy)} ({report.answered_correctly}/{report.answerable})")
    table.add_row(
        "refusal accuracy", f"{pct(report.refusal_accuracy)} ({report.refused_correctly}/{report.unanswerable})"
    )
    table.add_row("citations verbatim", f"{pct(report.verbatim_rate)} ({report.citations_verbatim}/{report.citations})")
    table.add_row("latency p50", f"{report.percentile(0.5):.1f} ms")
    table.add_row("latency p95", f"{report.percentile(0.95):.1f} ms")
    if report.review:
        table.add_row("flagged for review", f"{report.review} (not scored: check them, then delete 'review')")
    out.print(table)
    if report.failures:
        out.print(f"missed: {', '.join(report.failures)}")
