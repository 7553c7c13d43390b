"""The ``storybot`` command line: index, ask, sources, remove, eval, summarize, run."""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bot.answer import Answer, Turn
from config import Settings, load_settings
from index.embeddings import force_offline
from index.errors import StoryBotError

app = typer.Typer(
    name="storybot",
    help="Answer questions about a story with verbatim, cited passages.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console(highlight=False, soft_wrap=False)
err = Console(stderr=True, highlight=False)

CollectionOption = Annotated[
    str | None, typer.Option("--collection", "-c", help="Chroma collection (default: settings 'collection').")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def _service(settings: Settings | None = None) -> Any:
    """Build the service lazily so `--help` and argument errors never load the model."""
    from bot.service import StoryService

    return StoryService(settings or load_settings())


def _print_error(message: str) -> None:
    """One plain line on stderr: never wrapped, never styled, never a traceback."""
    sys.stderr.write("error: " + " ".join(message.split()) + "\n")
    sys.stderr.flush()


def _print_json(value: Any) -> None:
    line = json.dumps(value, ensure_ascii=False)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates (an undecodable file name): \u escapes keep it UTF-8
        line = json.dumps(value)
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


# --- index / sources / remove ------------------------------------------------------------------


@app.command("index")
def index_command(
    paths: Annotated[list[Path], typer.Argument(help="Files or directories (recursed) to index.")],
    collection: CollectionOption = None,
    as_json: JsonOption = False,
) -> None:
    """Index documents (.txt, .md, .html, .pdf). Re-indexing a document updates it in place."""
    from bot.service import IndexFailure

    service = _service()
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
                _print_error(result.error)
                if as_json:
                    _print_json({"source": result.path, "error": result.error})
                return
            if as_json:
                _print_json(
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
    """List indexed documents with their passage counts."""
    infos = _service().sources(collection)
    if as_json:
        _print_json([{"source": i.source, "passages": i.passages, "chars": i.chars} for i in infos])
        return
    if not infos:
        out.print("No documents indexed yet. Add some with [bold]storybot index PATH[/].")
        return
    table = Table("source", "passages", "characters")
    for info in infos:
        table.add_row(escape(info.source), str(info.passages), str(info.chars))
    out.print(table)


@app.command("remove")
def remove_command(
    source: Annotated[str, typer.Argument(help="Document name as listed by `storybot sources`.")],
    collection: CollectionOption = None,
) -> None:
    """Remove a document and all its passages."""
    service = _service()
    known = {info.source for info in service.sources(collection)}
    if source not in known:
        raise StoryBotError(f"No document named {source!r} in this collection (see `storybot sources`).")
    removed = service.remove(source, collection)
    out.print(f"removed {escape(source)} ({removed} passages)")


# --- ask ---------------------------------------------------------------------------------------


def answer_payload(answer: Answer, latency_ms: float) -> dict[str, Any]:
    """The JSON contract of `storybot ask --json`."""
    return {**answer.to_dict(), "latency_ms": round(latency_ms, 1)}


def render_answer(answer: Answer, console: Console) -> None:
    """Human output: the answer, then each cited passage numbered and quoted."""
    style = "green" if answer.grounded else "yellow"
    console.print(Panel(escape(answer.answer), title=escape(answer.question), border_style=style))
    for c in answer.citations:
        console.print(f"[bold][{c.n}][/] [dim]{escape(c.source)} chars {c.start}–{c.end}[/]")
        console.print(f"    “{escape(c.passage)}”")
    if answer.fallback_reason:
        console.print(f"[dim]answered offline: the language model failed ({escape(answer.fallback_reason)})[/]")
    for c in answer.related:
        console.print(f"[dim]closest passage, not an answer: {escape(c.source)} chars {c.start}–{c.end}[/]")
        console.print(f"    [dim]“{escape(c.passage)}”[/]")


def _timed_ask(
    service: Any, question: str, collection: str | None, history: tuple[Turn, ...] = ()
) -> tuple[Answer, float]:
    started = time.perf_counter()
    answer = service.ask(question, collection, history)
    return answer, (time.perf_counter() - started) * 1000


def _parse_jsonl_line(line: str) -> tuple[str, tuple[Turn, ...]]:
    """A line is a JSON object with "question" (and optional "history"), a JSON string, or plain text."""
    stripped = line.strip()
    if stripped.startswith(("{", '"', "[")):
        value = json.loads(stripped)
        if isinstance(value, str):
            return value, ()
        if not isinstance(value, dict) or not isinstance(value.get("question"), str):
            raise ValueError('expected {"question": "..."}')
        history = tuple(Turn(str(t["question"]), str(t.get("answer", ""))) for t in value.get("history") or [])
        return value["question"], history
    return line, ()


def _is_undecodable(line: str) -> bool:
    """Whether a line read with errors="surrogateescape" held bytes that are not UTF-8."""
    return any("\udc80" <= ch <= "\udcff" for ch in line)


def _ask_jsonl(service: Any, source: str, collection: str | None) -> None:
    # Undecodable bytes are kept (as surrogates) so that such a line gets its own error object
    # and the batch goes on, like any other bad line.
    try:
        stream = sys.stdin if source == "-" else open(source, encoding="utf-8", errors="surrogateescape")  # noqa: SIM115
    except OSError as exc:
        raise StoryBotError(f"{source}: cannot open ({exc.strerror}).") from None
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(errors="surrogateescape")
    with stream:
        number = 0
        while True:
            line = stream.readline()
            if not line:
                break
            number += 1
            line = line.rstrip("\n")
            try:
                if _is_undecodable(line):
                    raise ValueError(f"line {number} is not valid UTF-8")
                question, history = _parse_jsonl_line(line)
                answer, latency = _timed_ask(service, question, collection, history)
                _print_json({"line": number, **answer_payload(answer, latency)})
            except (StoryBotError, ValueError, KeyError, TypeError) as exc:
                _print_json({"line": number, "error": str(exc) or type(exc).__name__})


@app.command("ask")
def ask_command(
    question: Annotated[str | None, typer.Argument(help="The question to answer.")] = None,
    collection: CollectionOption = None,
    as_json: JsonOption = False,
    jsonl: Annotated[
        str | None, typer.Option("--jsonl", help="Answer one question per line of FILE ('-': stdin).")
    ] = None,
) -> None:
    """Answer a question about the story, quoting the passages it rests on."""
    if (question is None) == (jsonl is None):
        raise click.UsageError("give either a QUESTION or --jsonl FILE.")
    service = _service()
    if jsonl is not None:
        _ask_jsonl(service, jsonl, collection)
        return
    assert question is not None
    answer, latency = _timed_ask(service, question, collection)
    if as_json:
        _print_json(answer_payload(answer, latency))
    else:
        render_answer(answer, out)


# --- eval --------------------------------------------------------------------------------------


@app.command("eval")
def eval_command(
    file: Annotated[Path, typer.Argument(help="JSONL rows {id, question, answers[], unanswerable}.")],
    collection: CollectionOption = None,
    as_json: JsonOption = False,
) -> None:
    """Score answers against an evaluation file and print a table."""
    from bot.evaluation import evaluate, read_eval_rows

    rows = read_eval_rows(file)
    service = _service()
    store = service.ensure_corpus(collection)
    service.ask("warm-up", collection)  # load the model and build indexes outside the timings
    report = evaluate(rows, lambda q: service.ask(q, collection), store.document_text)
    if as_json:
        _print_json(report.to_dict())
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
    out.print(table)
    if report.failures:
        out.print(f"missed: {', '.join(report.failures)}")


@app.command("run")
def run_command() -> None:
    """Start the Discord bot (needs STORYBOT_DISCORD_TOKEN)."""
    from bot.discord.runner import run_bot

    run_bot(load_settings())


from bot.summary_cli import summarize_command  # noqa: E402

app.command("summarize")(summarize_command)


# --- entry point -------------------------------------------------------------------------------


def _quiet_libraries() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for name in ("chromadb", "sentence_transformers", "transformers", "httpx", "bm25s", "pypdf"):
        logging.getLogger(name).setLevel(logging.ERROR)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: one clear error line and a non-zero exit, never a traceback."""
    force_offline()
    _quiet_libraries()
    try:
        result = app(args=argv, standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt):
        _print_error("interrupted")
        sys.exit(130)
    except click.ClickException as exc:
        _print_error(exc.format_message())
        sys.exit(exc.exit_code)
    except StoryBotError as exc:
        _print_error(str(exc))
        sys.exit(1)
    except Exception as exc:  # last resort: the user gets one line, the log gets the details
        logging.getLogger("storybot").debug("unexpected failure", exc_info=True)
        _print_error(f"unexpected failure: {type(exc).__name__}: {exc}")
        sys.exit(2)
    sys.exit(result if isinstance(result, int) else 0)


if __name__ == "__main__":
    main()
