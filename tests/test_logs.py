"""One log format everywhere: key=value or JSON lines, one line per record, tracebacks included."""

from __future__ import annotations

import json
import logging

import pytest

from bot.answering.data import Citation
from bot.logs import JsonFormatter, KeyValueFormatter, configure_logging, log_event, passage_ids
from config import load_settings


def _record(event: str, exc: BaseException | None = None, **fields: object) -> logging.LogRecord:
    """A record as :func:`log_event` makes it, captured instead of emitted."""
    captured: list[logging.LogRecord] = []
    logger = logging.getLogger("storybot.test-logs")
    logger.setLevel(logging.INFO)
    handler = logging.Handler()
    handler.emit = captured.append  # type: ignore[method-assign]
    logger.addHandler(handler)
    try:
        exc_info = (type(exc), exc, exc.__traceback__) if exc else None
        log_event(logger, event, logging.ERROR if exc else logging.INFO, exc_info=exc_info, **fields)
    finally:
        logger.removeHandler(handler)
    return captured[0]


def test_key_value_lines_quote_values_with_spaces_quotes_and_newlines() -> None:
    line = KeyValueFormatter().format(
        _record("answer", latency_ms=12.345, grounded=True, question='say "hi"\nnow', skipped=None)
    )
    assert line.startswith("ts=")
    assert (
        ' level=info logger=storybot.test-logs event=answer latency_ms=12.3 grounded=true question="say \\"hi\\"\\nnow"'
        in line
    )
    assert "skipped" not in line
    assert "\n" not in line


def test_json_lines_carry_the_same_fields() -> None:
    data = json.loads(JsonFormatter().format(_record("answer", source="my story.txt", citations=2)))
    assert (data["event"], data["source"], data["citations"], data["level"]) == ("answer", "my story.txt", 2, "info")


def test_an_unexpected_error_keeps_its_traceback_on_one_line() -> None:
    try:
        raise ZeroDivisionError("division by zero")
    except ZeroDivisionError as exc:
        record = _record("unexpected_error", exc, where="/ask")
    line = KeyValueFormatter().format(record)
    assert "level=error" in line
    assert "where=/ask" in line
    assert "Traceback" in line
    assert "ZeroDivisionError" in line
    assert "\n" not in line
    assert "ZeroDivisionError" in json.loads(JsonFormatter().format(record))["exc"]


@pytest.mark.parametrize(("log_format", "formatter"), [("kv", KeyValueFormatter), ("json", JsonFormatter)])
def test_the_format_is_chosen_by_a_setting(log_format: str, formatter: type, tmp_path: object) -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        configure_logging(load_settings(log_format=log_format))
        assert isinstance(root.handlers[0].formatter, formatter)
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def test_passage_ids_name_the_passages_an_answer_rests_on() -> None:
    two = [Citation(1, "story.txt", 0, 10, "x" * 10), Citation(2, "b.txt", 5, 9, "abcd")]
    assert passage_ids(two) == "story.txt@0-10,b.txt@5-9"
    assert passage_ids([]) == "-"
