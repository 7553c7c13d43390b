"""``storybot ask``: one question, or a JSON-lines batch of them."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel

from bot.answering.data import Answer, Turn
from bot.cli.common import CollectionOption, JsonOption, app, make_service, out, print_json
from index.errors import StoryBotError


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
        raise StoryBotError(f"{Path(source).name}: cannot open ({exc.strerror}).", detail=f"{source}: {exc}") from None
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
                print_json({"line": number, **answer_payload(answer, latency)})
            except (StoryBotError, ValueError, KeyError, TypeError) as exc:
                print_json({"line": number, "error": str(exc) or type(exc).__name__})


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
    service = make_service()
    if jsonl is not None:
        _ask_jsonl(service, jsonl, collection)
        return
    assert question is not None
    answer, latency = _timed_ask(service, question, collection)
    if as_json:
        print_json(answer_payload(answer, latency))
    else:
        render_answer(answer, out)
