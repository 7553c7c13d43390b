"""``storybot index``, ``sources`` and ``remove``: the documents of a collection."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bot.cli.common import CollectionOption, JsonOption, app, err, make_service, out, print_error, print_json
from index.errors import StoryBotError

if TYPE_CHECKING:
    from index.store import SourceInfo


@app.command("index")
def index_command(
    paths: Annotated[
        list[str], typer.Argument(help="Files, directories (recursed) or http(s) URLs to index.", show_default=False)
    ],
    collection: CollectionOption = None,
    as_json: JsonOption = False,
) -> None:
    """Index documents (.txt, .md, .html, .pdf) or web pages. Re-indexing updates a document in place."""
    from bot.service import IndexFailure

    service = make_service()
    failures = 0
    with Progress(
        TextColumn("[bold]indexing"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("passages"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=as_json or not err.is_terminal,
    ) as progress:
        task = progress.add_task("index", total=None)

        def on_result(result: Any) -> None:
            nonlocal failures
            if isinstance(result, IndexFailure):
                failures += 1
                print_error(result.error)
                if as_json:
                    print_json({"source": result.path, "error": result.error})
                return
            if as_json:
                print_json(
                    {
                        "source": result.source,
                        "passages": result.passages,
                        "added": result.added,
                        "removed": result.removed,
                    }
                )
            else:
                state = "unchanged" if result.unchanged else f"+{result.added} −{result.removed}"
                out.print(f"[green]indexed[/] {escape(result.source)}: {result.passages} passages ({state})")

        results = service.index_paths(paths, collection, on_result, lambda n: progress.advance(task, n))
    if not results:
        raise StoryBotError("No supported documents found (.txt, .md, .html, .pdf).")
    if failures:
        raise typer.Exit(1)


@app.command("sources")
def sources_command(collection: CollectionOption = None, as_json: JsonOption = False) -> None:
    """List indexed documents with their passage counts; web pages with their title and address."""
    infos = make_service().sources(collection)
    if as_json:
        print_json([source_row(info) for info in infos])
        return
    if not infos:
        out.print("No documents indexed yet. Add some with [bold]storybot index PATH[/].")
        return
    labelled = any(info.title or info.url for info in infos)
    table = Table("source", "passages", "characters", show_lines=labelled)  # lines part multi-line entries
    table.columns[0].overflow = "fold"  # an address or a file name is shown whole, never cut short
    for info in infos:
        table.add_row(document_cell(info), str(info.passages), str(info.chars))
    out.print(table)


def source_row(info: SourceInfo) -> dict[str, Any]:
    """A document as `sources --json` prints it (``title`` and ``url`` null for a plain file)."""
    return {"source": info.source, "title": info.title, "url": info.url, "passages": info.passages, "chars": info.chars}


def document_cell(info: SourceInfo) -> str:
    """A document in the table: a web page (or HTML file) by its title, with its address and,
    for `storybot remove`, the name it is indexed under; any other file by its name."""
    if not (info.title or info.url):
        return escape(info.source)
    lines = [f"[bold]{escape(info.title or info.source)}[/]"]
    if info.url:
        lines.append(escape(info.url))
    lines.append(f"[dim]{escape(info.source)}[/]")
    return "\n".join(lines)


@app.command("remove")
def remove_command(
    source: Annotated[str, typer.Argument(help="Document name as listed by `storybot sources`.")],
    collection: CollectionOption = None,
) -> None:
    """Remove a document and all its passages."""
    service = make_service()
    known = {info.source for info in service.sources(collection)}
    if source not in known:
        raise StoryBotError(f"No document named {source!r} in this collection (see `storybot sources`).")
    removed = service.remove(source, collection)
    out.print(f"removed {escape(source)} ({removed} passages)")
