"""`storybot stats` and `storybot feedback export`, run in-process through the real entry point
over the configured database (the data directory the tests' environment points at)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.discord.shown import answer_payload
from bot.service import StoryService
from bot.state import Database, open_database
from config import load_settings
from index.embeddings import MiniLMEmbeddings
from tests.test_cli import index_bridge_story, run_cli


def state() -> Database:
    """The database `storybot run` would use here (created and migrated if new)."""
    settings = load_settings()
    return open_database(None, settings.resolved_data_dir())


def test_without_a_database_both_commands_say_so_and_create_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    for command in (["stats"], ["feedback", "export"]):
        code, out, err = run_cli(command, capsys)
        assert (code, out) == (1, "")
        assert err.startswith("error: There is no bot database yet: ")
        assert "storybot.sqlite3 does not exist" in err
    assert not (load_settings().resolved_data_dir() / "storybot.sqlite3").exists()


def test_an_empty_database_has_no_stats_and_no_feedback(capsys: pytest.CaptureFixture[str]) -> None:
    state().close()
    assert run_cli(["stats"], capsys) == (0, "No questions were asked in the last 30 days.\n", "")
    code, out, err = run_cli(["stats", "--json"], capsys)
    assert (code, json.loads(out)) == (0, {"reports": []})
    code, out, err = run_cli(["feedback", "export"], capsys)
    assert (code, out) == (0, "")
    assert "No feedback yet" in err


def test_stats_per_server_as_text_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    with state() as db:
        for question, grounded, latency in (
            ("Who is Ada?", False, 20.0),
            ("who is ada?", False, 40.0),
            ("Q", True, 9.0),
        ):
            db.log_question(
                guild_id="123", collection="guild-123", question=question, grounded=grounded, latency_ms=latency
            )
        db.log_question(guild_id=None, collection="story", question="In a DM", grounded=True, latency_ms=5.0)

    code, out, _ = run_cli(["stats"], capsys)
    assert code == 0
    assert "storybot stats: server 123" in out
    assert "storybot stats: direct messages" in out
    assert "questions asked" in out
    assert "2× Who is Ada?" in out or "2× who is ada?" in out

    code, out, _ = run_cli(["stats", "--json"], capsys)
    reports = json.loads(out)["reports"]
    assert [r["guild_id"] for r in reports] == ["123", None]
    week = reports[0]["windows"][0]
    assert (week["days"], week["asked"], week["answered"], week["refused"]) == (7, 3, 1, 2)
    assert (week["latency_p50_ms"], week["latency_p95_ms"]) == (20.0, 40.0)
    assert week["top_unanswered"][0]["count"] == 2

    code, out, _ = run_cli(["stats", "--guild", "dm", "--json"], capsys)
    assert [r["guild_id"] for r in json.loads(out)["reports"]] == [None]
    code, out, err = run_cli(["stats", "--guild", "my-server"], capsys)
    assert code == 2
    assert "expected a server id (digits) or 'dm'" in err


def test_feedback_export_round_trips_through_eval(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], embeddings: MiniLMEmbeddings
) -> None:
    """Answers given by the real answer core, voted on and refused as the bot records them, then
    exported and scored by `storybot eval`."""
    index_bridge_story(tmp_path, capsys)
    settings = load_settings()
    service = StoryService(settings, embeddings)
    try:
        answers = {
            q: service.ask(q)
            for q in (
                "When will the Elm Street bridge reopen?",
                "Who announced the reopening?",
                "How much did the repairs cost?",
            )
        }
    finally:
        service.close()
    assert all(answer.grounded for answer in answers.values())
    with state() as db:
        ids = {
            q: db.save_answer(collection=settings.collection, question=q, payload=answer_payload(a), guild_id="9")
            for q, a in answers.items()
        }
        db.record_vote(ids["When will the Elm Street bridge reopen?"], "u1", 1, message_id="m1")
        db.record_vote(ids["Who announced the reopening?"], "u1", 1, message_id="m2")
        db.record_vote(ids["How much did the repairs cost?"], "u2", -1, message_id="m3")
        db.set_vote_reason(ids["How much did the repairs cost?"], "u2", "it also cost two years")
        db.log_question(
            guild_id="9", collection=settings.collection, question="Who painted it?", grounded=False, latency_ms=3
        )
        db.log_question(guild_id="9", collection="elsewhere", question="Not this one", grounded=False, latency_ms=3)

    output = tmp_path / "out" / "feedback.jsonl"
    output.parent.mkdir()
    code, out, err = run_cli(["feedback", "export", "--collection", settings.collection, "-o", str(output)], capsys)
    assert (code, out) == (0, "")
    assert f"Exported 2 tests and 2 questions to review to {output}" in " ".join(err.split())
    rows = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    by_question = {row["question"]: row for row in rows}
    assert set(by_question) == {*answers, "Who painted it?"}
    assert by_question["When will the Elm Street bridge reopen?"]["answers"] == ["June 12"]
    cost = by_question["How much did the repairs cost?"]
    assert (cost["review"], cost["reasons"], cost["origin"]) == (True, ["it also cost two years"], "downvoted")
    refused = by_question["Who painted it?"]
    assert (refused["review"], refused["unanswerable"], refused["asked"]) == (True, True, 1)
    assert list(output.parent.iterdir()) == [output]  # no temporary file left behind

    code, out, err = run_cli(["eval", str(output), "--json"], capsys)
    assert code == 0, err
    report = json.loads(out)
    assert (report["answerable"], report["answer_accuracy"], report["unanswerable"]) == (2, 1.0, 0)
    assert report["review"] == 2
    assert report["citation_verbatim_rate"] == 1.0

    code, out, _ = run_cli(["eval", str(output)], capsys)
    assert code == 0
    assert "flagged for review" in out
