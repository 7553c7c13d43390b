"""What every ``storybot`` command shares: the typer app, common options and output helpers."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

if TYPE_CHECKING:
    from bot.service import StoryService
    from config import Settings

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


def make_service(settings: Settings | None = None) -> StoryService:
    """Build the service lazily so `--help` and argument errors never load the model."""
    from bot.service import build_service
    from config import load_settings

    return build_service(settings or load_settings())


def print_error(message: str) -> None:
    """One plain line on stderr: never wrapped, never styled, never a traceback."""
    sys.stderr.write("error: " + " ".join(message.split()) + "\n")
    sys.stderr.flush()


def print_json(value: Any) -> None:
    """One JSON object per line on stdout, UTF-8 even for undecodable file names."""
    line = json.dumps(value, ensure_ascii=False)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates (an undecodable file name): \u escapes keep it UTF-8
        line = json.dumps(value)
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
