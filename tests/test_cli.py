"""The storybot CLI, run in-process through its real entry point (and once as a real process).

Questions are asked about a small story indexed first; what a first run without documents
answers (the bundled seed story) is tested in tests/test_seed_story.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main

BRIDGE = (
    "The Elm Street Bridge\n\n"
    "The Elm Street bridge will reopen to traffic on June 12. "
    "Chief engineer Rosa Lindqvist announced the reopening to the town council. "
    "The new deck carries two cycle lanes. "
    "The repairs took two years and cost four million euros."
)


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str], stdin: str | None = None) -> tuple[int, str, str]:
    """Run `storybot ARGS` in-process; returns (exit code, stdout, stderr)."""
    if stdin is not None:
        import io

        sys.stdin = io.StringIO(stdin)
    try:
        with pytest.raises(SystemExit) as exited:
            main(args)
    finally:
        sys.stdin = sys.__stdin__
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out, captured.err


def index_bridge_story(directory: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """Write the bridge story to ``directory/bridge.txt`` and `storybot index` it into the default
    collection; returns its path."""
    path = directory / "bridge.txt"
    path.write_text(BRIDGE, encoding="utf-8")
    code, _, err = run_cli(["index", str(path)], capsys)
    assert code == 0, err
    return path


def test_ask_json_contract(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = index_bridge_story(tmp_path, capsys)
    code, out, _ = run_cli(["ask", "--json", "When will the Elm Street bridge reopen?"], capsys)
    assert code == 0
    payload = json.loads(out)
    assert set(payload) >= {"question", "answer", "grounded", "citations", "latency_ms"}
    assert payload["grounded"] is True
    assert "June 12" in payload["answer"]
    citation = payload["citations"][0]
    assert set(citation) >= {"n", "source", "start", "end", "passage", "score"}
    assert citation["n"] == 1
    assert citation["source"] == "bridge.txt"
    story = path.read_text(encoding="utf-8")
    assert story.strip()[citation["start"] : citation["end"]] == citation["passage"]


def test_ask_human_output_quotes_the_passage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    index_bridge_story(tmp_path, capsys)
    code, out, _ = run_cli(["ask", "When will the Elm Street bridge reopen?"], capsys)
    assert code == 0
    assert "[1]" in out
    assert "bridge.txt" in out
    assert "June 12" in out


def test_index_sources_remove_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    docs = tmp_path / "docs"
    (docs / "nested").mkdir(parents=True)
    (docs / "a.txt").write_text("The lighthouse keeper retired in 1987 after forty years.", encoding="utf-8")
    (docs / "nested" / "b.md").write_text("# Ferry\n\nThe ferry runs twice a day in winter.", encoding="utf-8")
    code, out, _ = run_cli(["index", str(docs), "--collection", "coast"], capsys)
    assert code == 0
    assert "a.txt" in out
    assert "b.md" in out

    code, out, _ = run_cli(["sources", "--json", "--collection", "coast"], capsys)
    assert {row["source"] for row in json.loads(out)} == {"a.txt", "b.md"}

    code, out, _ = run_cli(["ask", "--json", "-c", "coast", "When did the lighthouse keeper retire?"], capsys)
    assert json.loads(out)["citations"][0]["source"] == "a.txt"

    code, out, _ = run_cli(["remove", "a.txt", "--collection", "coast"], capsys)
    assert code == 0
    code, out, _ = run_cli(["sources", "--json", "--collection", "coast"], capsys)
    assert [row["source"] for row in json.loads(out)] == ["b.md"]


def test_jsonl_batch_keeps_going_after_bad_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    index_bridge_story(tmp_path, capsys)
    lines = [
        "When will the Elm Street bridge reopen?",
        '{"question": "Who did Rosa Lindqvist announce the reopening to?"}',
        '{"question": ""}',
        '{"not_a_question": 1}',
        "{broken json",
        "",
        '"What is the GDP of Colombia?"',
    ]
    code, out, _ = run_cli(["ask", "--jsonl", "-"], capsys, stdin="\n".join(lines) + "\n")
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [row["line"] for row in rows] == list(range(1, len(lines) + 1))
    assert rows[0]["grounded"]
    assert "June 12" in rows[0]["answer"]
    assert "town council" in rows[1]["answer"]
    assert all("error" in rows[i] for i in (2, 3, 4, 5))
    assert rows[6]["grounded"] is False


def test_eval_prints_a_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    index_bridge_story(tmp_path, capsys)
    rows = [
        {
            "id": "a",
            "question": "When will the Elm Street bridge reopen?",
            "answers": ["June 12"],
            "unanswerable": False,
        },
        {"id": "b", "question": "What is the GDP of Colombia?", "answers": [], "unanswerable": True},
    ]
    file = tmp_path / "eval.jsonl"
    file.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    code, out, _ = run_cli(["eval", str(file)], capsys)
    assert code == 0
    for label in ("answer accuracy", "refusal accuracy", "citations verbatim", "latency p95"):
        assert label in out
    code, out, _ = run_cli(["eval", "--json", str(file)], capsys)
    report = json.loads(out)
    assert report["answer_accuracy"] == 1.0
    assert report["refusal_accuracy"] == 1.0
    assert report["citation_verbatim_rate"] == 1.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ask"], "give either a QUESTION or --jsonl"),
        (["ask", "   "], "Please ask a question"),
        (["ask", "x" * 1200], "under 1000 characters"),
        (["index", "/nonexistent/file.txt"], "no such file"),
        (["remove", "nothing.txt"], "No document named 'nothing.txt'"),
        (["eval", "/nonexistent.jsonl"], "cannot read the evaluation file"),
        (["ask", "-c", "bad name!", "hi"], "Invalid collection name"),
        (["frobnicate"], "No such command"),
    ],
)
def test_errors_are_one_line_without_traceback(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(args, capsys)
    assert code != 0
    assert message in err
    assert "Traceback" not in err + out
    assert len(err.strip().splitlines()) == 1


def test_unsupported_file_is_reported_and_others_still_indexed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "good.txt").write_text("Good text about owls.", encoding="utf-8")
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe\x00\x00garbage")
    code, out, err = run_cli(["index", str(tmp_path / "bad.txt"), str(tmp_path / "good.txt")], capsys)
    assert code == 1
    assert "bad.txt" in err
    assert "good.txt" in out


def test_console_script_runs_as_a_real_process(tmp_path: Path) -> None:
    """The installed entry point: a bad call exits non-zero with one line and no traceback."""
    env = {**os.environ, "STORYBOT_DATA_DIR": str(tmp_path / "data")}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "remove", "missing.txt"], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 1
    assert (
        result.stderr.strip() == "error: No document named 'missing.txt' in this collection (see `storybot sources`)."
    )
