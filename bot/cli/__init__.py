"""The ``storybot`` command line: index, sources, remove, ask, eval, summarize, run, stats, feedback.

Each command lives in the module named for it and registers itself on the shared typer app;
:func:`main` is the console entry point and the one place errors become a line on stderr.
"""

from __future__ import annotations

import logging
import sys

import click
import typer

from bot.cli import ask, documents, evaluate, feedback, run, stats, summarize
from bot.cli.common import app, print_error
from bot.logs import configure_cli_logging
from index.embeddings import force_offline
from index.errors import StoryBotError

__all__ = ["app", "ask", "documents", "evaluate", "feedback", "main", "run", "stats", "summarize"]

logger = logging.getLogger("storybot")


def main(argv: list[str] | None = None) -> None:
    """Console entry point: one clear error line and a non-zero exit, never a traceback."""
    force_offline()
    configure_cli_logging()
    try:
        result = app(args=argv, standalone_mode=False)
    except (click.exceptions.Abort, typer.Abort, KeyboardInterrupt):
        print_error("interrupted")
        sys.exit(130)
    except (click.ClickException, typer.TyperException) as exc:  # typer ≥ 0.24 ships its own click
        print_error(exc.format_message() if hasattr(exc, "format_message") else str(exc))
        sys.exit(int(getattr(exc, "exit_code", 2)))
    except StoryBotError as exc:
        logger.warning("command failed: %s", exc.detail or exc)
        print_error(str(exc))
        sys.exit(1)
    except Exception:  # last resort: the user gets one line, the log gets the traceback
        logger.exception("unexpected failure")
        print_error("something went wrong inside story-bot; the details are in the log (STORYBOT_LOG_FILE).")
        sys.exit(2)
    sys.exit(result if isinstance(result, int) else 0)
