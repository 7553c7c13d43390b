"""Fuzz: 1,000+ hostile questions through the answer chain and the CLI's --jsonl path, and hostile
file names and contents through `storybot index`.

The bar: no crash, no traceback shown to a user, no input silently dropped, and nothing
ping-able (``@everyone``, ``<@&id>``) in an answer unless the story itself says it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.answering.data import Answer, Turn
from bot.errors import QuestionError
from bot.service import StoryService
from index.store import IndexResult
from tests.hostile import (
    REAL_ANSWER,
    REAL_QUESTION,
    REAL_STORY,
    HostileFile,
    hostile_files,
    hostile_questions,
    kind_of,
)

PINGS = ("@everyone", "@here", "<@&")
CLI_TIMEOUT = 900  # seconds; a safety net for a hung process, not a performance assertion


@pytest.fixture
def service(make_story_service: Callable[..., StoryService]) -> StoryService:
    """A service whose default collection holds the story the real question asks about."""
    return make_story_service(REAL_STORY)


def _check_answer(service: StoryService, answer: Answer) -> list[str]:
    """What is wrong with an answer, if anything: empty text, unverifiable quotes, or pings."""
    problems = []
    if not answer.answer.strip():
        problems.append("empty answer")
    if answer.grounded and not answer.citations:
        problems.append("grounded without citations")
    for citation in [*answer.citations, *answer.related]:
        text = service.store().document_text(citation.source)
        if text is None or text[citation.start : citation.end] != citation.passage:
            problems.append(f"citation {citation.n} is not verbatim")
    problems += [f"ping {ping!r} in the answer" for ping in PINGS if ping in answer.answer]
    return problems


def _ask_all(service: StoryService, questions: list[str], history: tuple[Turn, ...] = ()) -> Counter[str]:
    """Ask every question; each ends as an answer or a polite QuestionError, anything else fails."""
    outcomes: Counter[str] = Counter()
    failures: list[str] = []
    for question in questions:
        try:
            answer = service.ask(question, history=history)
        except QuestionError as exc:
            outcomes["declined"] += 1
            if not str(exc).strip() or "\n" in str(exc):
                failures.append(f"{kind_of(question)} {question[:60]!r}: unclear error {exc!r}")
            continue
        except Exception as exc:
            failures.append(f"{kind_of(question)} {question[:60]!r}: {type(exc).__name__}: {exc}")
            continue
        outcomes["grounded" if answer.grounded else "not in story"] += 1
        failures += [f"{kind_of(question)} {question[:60]!r}: {problem}" for problem in _check_answer(service, answer)]
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures[:30])
    assert sum(outcomes.values()) == len(questions)  # nothing silently dropped
    return outcomes


def test_the_generator_makes_at_least_a_thousand_distinct_deterministic_cases() -> None:
    questions = hostile_questions()
    assert len(questions) >= 1000
    assert len(set(questions)) == len(questions)
    assert questions == hostile_questions()


def test_hostile_questions_through_the_answer_chain(service: StoryService) -> None:
    outcomes = _ask_all(service, hostile_questions())
    assert outcomes["grounded"] > 0  # the real question inside hostile wrappers is still answered
    assert outcomes["declined"] > 0  # empty, over-long and letterless questions are declined


def test_hostile_follow_ups_with_hostile_history(service: StoryService) -> None:
    """Conversation history (a Discord thread) is user text too."""
    questions = hostile_questions()
    history = tuple(Turn(q, q) for q in questions[::97])
    _ask_all(service, ["and then?", "when is he going there?", *questions[::13]], history)


def test_a_real_question_wrapped_in_noise_is_still_answered(service: StoryService) -> None:
    for noise in ("\u200b", "@everyone", "```", "\x1b[31m", "🙂", "\u202e"):
        answer = service.ask(f"{noise} {REAL_QUESTION} {noise}")
        assert answer.grounded, noise
        assert REAL_ANSWER in answer.answer


# --- the CLI, as a real process ----------------------------------------------------------------


def _storybot(args: list[str | bytes], env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    """`storybot ARGS` as a real process (arguments may be bytes: file names need not be UTF-8)."""
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, env=env, timeout=CLI_TIMEOUT)


def _cli_env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "STORYBOT_DATA_DIR": str(tmp_path / "cli-data")}


def _jsonl_batch() -> list[bytes]:
    """A representative slice of the hostile questions as JSONL lines (JSON strings, plain text,
    objects with hostile history) plus lines that are broken on purpose."""
    questions = hostile_questions()[::9]
    lines = [json.dumps(q).encode() for q in questions]
    lines += [q.encode("utf-8", "surrogatepass") for q in questions[::5] if "\n" not in q and "\r" not in q]
    lines += [json.dumps({"question": q, "history": [{"question": q, "answer": q}]}).encode() for q in questions[::11]]
    lines += [
        b"{broken json",
        b'{"question": 42}',
        b'{"question": "ok", "history": "not a list"}',
        b'{"question": "ok", "history": [1, 2]}',
        b"[1, 2, 3]",
        b"caf\xe9 is not UTF-8",
        b"\xff\xfe\xfd",
        REAL_QUESTION.encode() + b" \xed\xa0\x80",
        json.dumps(REAL_QUESTION).encode(),
        b"",
        b"x" * 50_000,
    ]
    return lines


def test_jsonl_gives_exactly_one_object_per_line_without_tracebacks(
    tmp_path: Path, make_story_service: Callable[..., StoryService]
) -> None:
    lines = _jsonl_batch()
    batch = tmp_path / "hostile.jsonl"
    batch.write_bytes(b"\n".join(lines) + b"\n")
    env = _cli_env(tmp_path)
    make_story_service(REAL_STORY, data_dir=env["STORYBOT_DATA_DIR"])  # what the real question asks about
    result = _storybot(["ask", "--jsonl", str(batch)], env)
    out, err = result.stdout.decode(), result.stderr.decode()
    assert "Traceback" not in out + err
    assert result.returncode == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [row["line"] for row in rows] == list(range(1, len(lines) + 1))
    for row in rows:
        assert ("error" in row) != ("answer" in row), row
        if "answer" in row:
            assert not any(ping in row["answer"] for ping in PINGS), row
    assert sum("answer" in row for row in rows) > len(rows) // 2
    assert rows[-3]["grounded"] is True  # the plain real question near the end


# --- hostile files through `storybot index` ----------------------------------------------------


def _write(directory: Path, file: HostileFile) -> bytes:
    path = os.path.join(os.fsencode(directory), file.name)
    with open(path, "wb") as handle:
        if file.size:
            handle.truncate(file.size)
        else:
            handle.write(file.content)
    return path


def test_hostile_files_are_each_indexed_or_refused_in_one_line(
    tmp_path: Path, make_service: Callable[..., StoryService]
) -> None:
    """Every file gets one result line, indexed or refused (with one stderr line); indexing the
    directory again changes nothing; what was indexed is listed and answers questions."""
    files = hostile_files()
    directory = tmp_path / "hostile"
    directory.mkdir()
    paths = [_write(directory, file) for file in files]
    env = _cli_env(tmp_path)

    rows, refused = _index_rows(_storybot(["index", "--json", *paths], env))
    assert len(rows) == len(files)  # none dropped
    indexed = {row["source"] for row in rows if "error" not in row}
    assert {"@everyone.txt", "content-story.txt", "new\nline.txt", "a" * 250 + ".txt"} <= indexed
    refused_names = {os.path.basename(row["source"]) for row in refused}
    assert {"content-empty.txt", "content-binary.txt", "huge.txt", "not-utf8-\udcff\udcfe.txt"} <= refused_names

    service = make_service(data_dir=env["STORYBOT_DATA_DIR"])
    again = service.index_paths([directory])  # in-process: the same ingestion, without a second start-up
    assert {r.source for r in again if isinstance(r, IndexResult)} == indexed
    assert all(r.unchanged for r in again if isinstance(r, IndexResult))
    assert {info.source for info in service.sources()} == indexed
    answer = service.ask("When was the lighthouse on Gull Rock built?")
    assert answer.grounded
    assert "1871" in answer.answer


def _index_rows(result: subprocess.CompletedProcess[bytes]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The JSON result lines of `storybot index --json`, checked: no traceback, exit 0 or 1 (some
    files refused; never 2, an unexpected failure), one `error:` line on stderr per refusal."""
    out, err = result.stdout.decode(), result.stderr.decode("utf-8", "backslashreplace")
    assert "Traceback" not in out + err
    assert result.returncode in (0, 1), err
    rows = [json.loads(line) for line in out.splitlines()]
    refused = [row for row in rows if "error" in row]
    assert len(err.splitlines()) == len(refused), err
    assert all(line.startswith("error: ") for line in err.splitlines()), err
    return rows, refused
