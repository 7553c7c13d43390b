"""`storybot summarize` and StoryService.summarize: files on their own, or the indexed collection."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.service import StoryService
from bot.summaries.summarize import MODES, SummaryError
from index.loaders import load_document
from tests.test_cli import run_cli
from tests.test_summary import RAIL_TALKS

DATA = Path(__file__).parent / "data"


@pytest.fixture
def service(make_story_service: Callable[..., StoryService]) -> StoryService:
    """A service whose default collection holds the rail story (tests/test_summary.py)."""
    return make_story_service(RAIL_TALKS)


@pytest.fixture
def rail_talks_file(tmp_path: Path) -> Path:
    path = tmp_path / "stories" / RAIL_TALKS.source
    path.parent.mkdir()
    path.write_text(RAIL_TALKS.text, encoding="utf-8")
    return path


def test_service_summarizes_the_collection(service: StoryService) -> None:
    store = service.store()
    for mode in MODES:
        summary = service.summarize(mode)
        assert summary.source is None
        assert summary.lines
        for c in summary.citations:
            assert store.document_text(c.source) is not None
            assert store.document_text(c.source)[c.start : c.end] == c.passage  # type: ignore[index]


def test_service_rejects_an_unknown_mode_before_loading_anything() -> None:
    fresh = StoryService.__new__(StoryService)  # no store, no model: the mode check comes first
    with pytest.raises(SummaryError, match="tldr, key-points, timeline, who, quotes"):
        StoryService.summarize(fresh, "poem")


def test_service_summarizes_a_document_without_indexing_it(service: StoryService) -> None:
    document = load_document(DATA / "cnndm-police-lieutenant.txt")
    before = {info.source for info in service.sources()}
    summary = service.summarize_document(document, "who")
    assert summary.source == "cnndm-police-lieutenant.txt"
    assert any(line.text.startswith("Ralph Mata (person)") for line in summary.lines)
    assert {info.source for info in service.sources()} == before


def test_cli_summarizes_files_one_json_object_each(
    tmp_path: Path, rail_talks_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = [DATA / "cnndm-hepatitis-bishop.txt", rail_talks_file]
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    garbage = tmp_path / "garbage.txt"
    garbage.write_text("%%%% #### 1234 !!!! //// ---- " * 5, encoding="utf-8")
    args = ["summarize", str(good[0]), str(empty), str(garbage), str(good[1]), "--mode", "timeline", "--json"]
    code, out, _ = run_cli(args, capsys)
    assert code == 1  # some files failed, the others were still summarized
    rows = [json.loads(line) for line in out.splitlines()]
    assert [set(r) >= {"source", "error"} for r in rows] == [False, True, True, False]
    assert "empty" in rows[1]["error"]
    assert "not words" in rows[2]["error"]
    for row, path in zip((rows[0], rows[3]), good, strict=True):
        assert set(row) >= {"source", "mode", "summary", "citations", "latency_ms"}
        assert row["mode"] == "timeline"
        text = path.read_text(encoding="utf-8").strip()
        for c in row["citations"]:
            assert text[c["start"] : c["end"]] == c["passage"]


def test_cli_human_output_for_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "story.txt").write_text(RAIL_TALKS.text, encoding="utf-8")
    code, out, _ = run_cli(["summarize", str(tmp_path), "--mode", "quotes"], capsys)
    assert code == 0
    assert "key quotes" in out
    assert "a fresh start" in out
    assert "[1]" in out


def test_cli_unknown_mode_is_one_error_line(rail_talks_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["summarize", str(rail_talks_file), "--mode", "poem"], capsys)
    assert code == 1
    assert out == ""
    assert err.strip().startswith("error: unknown summary mode 'poem'")
    assert "key-points" in err


def test_cli_summarizes_the_collection(rail_talks_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["index", str(rail_talks_file)], capsys)
    assert code == 0, err
    code, out, _ = run_cli(["summarize", "--mode", "who", "--json"], capsys)
    assert code == 0
    payload = json.loads(out)
    assert payload["source"] is None
    assert "Elena Duarte" in payload["summary"]
    assert payload["latency_ms"] >= 0
