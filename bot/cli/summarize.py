"""``storybot summarize``: cited summaries of the indexed collection, or of files on their own."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel

from bot.answering.data import Summary
from bot.cli.common import CollectionOption, JsonOption, app, err, make_service, out, print_json
from bot.summaries.summarize import MODES, check_mode
from index.errors import DocumentError, StoryBotError

_TITLES = {
    "tldr": "tl;dr",
    "key-points": "key points",
    "timeline": "timeline",
    "who": "who's who",
    "quotes": "key quotes",
}


def summary_payload(summary: Summary, latency_ms: float) -> dict[str, Any]:
    """The JSON contract of ``storybot summarize --json``: the summary plus its latency."""
    return {**summary.to_dict(), "latency_ms": round(latency_ms, 1)}


def render_summary(summary: Summary, console: Console) -> None:
    """Human output: the summary in a panel, then each cited passage numbered and quoted."""
    title = f"{_TITLES.get(summary.mode, summary.mode)} — {summary.source or 'collection'}"
    console.print(Panel(escape(summary.text()), title=escape(title), border_style="cyan"))
    for c in summary.citations:
        console.print(f"[bold][{c.n}][/] [dim]{escape(c.source)} chars {c.start}–{c.end}[/]")
        console.print(f"    “{escape(' '.join(c.passage.split()))}”")


def _summarize_files(service: Any, paths: list[Path], mode: str, as_json: bool) -> int:
    """Each file on its own; a bad file reports its error and the others go on. Returns failures."""
    from index.loaders import iter_document_paths, load_document

    files = list(iter_document_paths(paths))
    if not files:
        raise StoryBotError("No supported documents found (.txt, .md, .html, .pdf).")
    failures = 0
    for path in files:
        started = time.perf_counter()
        try:
            summary = service.summarize_document(load_document(path), mode)
        except (DocumentError, StoryBotError) as exc:
            failures += 1
            if as_json:
                print_json({"source": str(path), "error": str(exc)})
            else:
                err.print(f"[red]error:[/] {escape(str(exc))}")
            continue
        latency = (time.perf_counter() - started) * 1000
        if as_json:
            print_json(summary_payload(summary, latency))
        else:
            render_summary(summary, out)
    return failures


@app.command("summarize")
def summarize_command(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Files or directories to summarize, each on its own (not indexed).")
    ] = None,
    mode: Annotated[str, typer.Option("--mode", "-m", help=f"One of: {', '.join(MODES)}.")] = "tldr",
    collection: CollectionOption = None,
    as_json: JsonOption = False,
) -> None:
    """Summarize the story with cited lines: tldr, key-points, timeline, who, quotes."""
    mode = check_mode(mode)
    service = make_service()
    if paths:
        failures = _summarize_files(service, paths, mode, as_json)
        if failures:
            raise typer.Exit(1)
        return
    started = time.perf_counter()
    summary = service.summarize(mode, collection)
    latency = (time.perf_counter() - started) * 1000
    if as_json:
        print_json(summary_payload(summary, latency))
    else:
        render_summary(summary, out)
