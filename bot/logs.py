"""One log format for every part of story-bot: ``key=value`` lines or JSON lines, by a setting.

Operators read the log; users never do. A record is an event name plus fields
(:func:`log_event`); records from libraries, which carry only a message, are shown the same way
with the message as the event. Tracebacks of unexpected errors become one ``exc`` field, so a
record stays one line whatever it holds.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.answering.data import Citation
    from config import Settings

_FIELDS = "storybot_fields"
_BARE = re.compile(r"^[A-Za-z0-9_.:@,/+-]+$")
# Libraries that log at INFO about every request; their warnings still come through.
_CHATTY = ("chromadb", "httpx", "httpcore", "bm25s", "pypdf", "urllib3", "discord.http", "discord.gateway", "alembic")


def log_event(
    logger: logging.Logger, event: str, level: int = logging.INFO, exc_info: Any = None, **fields: Any
) -> None:
    """Log ``event`` with structured fields (``None`` values are left out)."""
    kept = {key: value for key, value in fields.items() if value is not None}
    logger.log(level, event, exc_info=exc_info, extra={_FIELDS: kept})


def event_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The structured fields a record was logged with (empty for plain messages)."""
    return dict(getattr(record, _FIELDS, None) or {})


def passage_ids(citations: Sequence[Citation], top: int = 3) -> str:
    """The top cited passages as ``source@start-end``: the ids an answer rests on."""
    return ",".join(f"{c.source}@{c.start}-{c.end}" for c in citations[:top]) or "-"


def _kv_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.1f}"
    text = "" if value is None else str(value)
    if _BARE.match(text):
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


def record_fields(record: logging.LogRecord, formatter: logging.Formatter) -> dict[str, Any]:
    """Everything a line shows, in order: time, level, logger, event, fields, traceback."""
    fields: dict[str, Any] = {
        "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
        "level": record.levelname.lower(),
        "logger": record.name,
        "event": record.getMessage(),
    }
    fields.update(event_fields(record))
    if record.exc_info:
        fields["exc"] = formatter.formatException(record.exc_info)
    return fields


class KeyValueFormatter(logging.Formatter):
    """``ts=… level=info logger=storybot.discord event=answer latency_ms=12.3 …`` (logfmt)."""

    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{key}={_kv_value(value)}" for key, value in record_fields(record, self).items())


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log pipelines."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(record_fields(record, self), ensure_ascii=False, default=str)


def make_formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else KeyValueFormatter()


def configure_logging(settings: Settings, default_file: Path | None = None) -> None:
    """Route every logger to one handler in the configured format.

    ``log_file`` wins; otherwise ``default_file`` (the CLI's log in the data directory), otherwise
    stderr (the bot's console, which a service manager collects).
    """
    target = Path(settings.log_file).expanduser() if settings.log_file else default_file
    handler: logging.Handler
    if target is None:
        handler = logging.StreamHandler(sys.stderr)
    else:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            handler = logging.FileHandler(target, encoding="utf-8")
        except OSError:
            handler = logging.NullHandler()  # an unwritable log must not stop the command
    handler.setFormatter(make_formatter(settings.log_format))
    _install(handler, settings.log_level.upper())


def _install(handler: logging.Handler, level: str) -> None:
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("storybot").setLevel(level)
    logging.getLogger("discord").setLevel(max(logging.INFO, logging.getLevelName(level)))
    for name in _CHATTY:
        logging.getLogger(name).setLevel(logging.WARNING)


def configure_cli_logging() -> None:
    """The CLI logs to ``<data_dir>/storybot.log`` (or ``log_file``): its stderr is for the user's
    one-line messages, never for server addresses, paths or tracebacks."""
    from config import load_settings

    try:
        settings = load_settings()
        default_file: Path | None = settings.resolved_data_dir() / "storybot.log"
    except Exception:  # invalid settings are reported by the command itself
        _install(logging.NullHandler(), "INFO")
        return
    configure_logging(settings, default_file)
