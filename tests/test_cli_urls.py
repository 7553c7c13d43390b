"""`storybot index URL`: web pages are fetched, reduced to their article and indexed; a bad
address is a clear error that loses nothing already indexed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main
from tests.web_server import PageServer, Reply

PAGES = Path(__file__).parent / "data" / "pages"
HEADLINE = "Harbor bridge to reopen in June after two years of repairs"


@pytest.fixture(scope="module")
def pages() -> Iterator[PageServer]:
    article = (PAGES / "news-article.html").read_bytes()
    routes = {
        "/news/story": Reply(article, headers={"Content-Type": "text/html; charset=utf-8"}),
        "/missing": Reply(b"gone", status=404, headers={"Content-Type": "text/html"}),
        "/photo.png": Reply(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, headers={"Content-Type": "image/png"}),
    }
    with PageServer(routes) as server:
        yield server


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    captured = capsys.readouterr()
    return int(exit_info.value.code or 0), captured.out, captured.err


def test_a_web_page_is_indexed_by_its_article_and_answers_from_it(
    pages: PageServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORYBOT_URL_ALLOW_PRIVATE", "true")  # the test server is on 127.0.0.1
    code, out, _ = run(["index", "--json", pages.url("/news/story")], capsys)
    assert code == 0
    [row] = [json.loads(line) for line in out.splitlines()]
    assert row["passages"] >= 1
    code, out, _ = run(["sources", "--json"], capsys)
    [info] = json.loads(out)
    assert info["source"] == row["source"]
    assert "/" not in info["source"]
    url = pages.url("/news/story")
    assert (info["title"], info["url"]) == (HEADLINE, url)


def test_sources_lists_a_web_page_by_its_title_and_address(
    pages: PageServer, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORYBOT_URL_ALLOW_PRIVATE", "true")
    monkeypatch.setenv("COLUMNS", "60")  # a narrow terminal: the address is folded, never cut short
    story = tmp_path / "harbor.txt"
    story.write_text("The harbor opened in 1902. Fishing boats filled it every spring.", encoding="utf-8")
    url = pages.url("/news/story?utm_source=newsletter&edition=weekend")
    assert run(["index", str(story), url], capsys)[0] == 0

    code, out, _ = run(["sources", "--json"], capsys)
    by_source = {info["source"]: info for info in json.loads(out)}
    assert (by_source["harbor.txt"]["title"], by_source["harbor.txt"]["url"]) == (None, None)  # a plain file
    [page] = [info for info in by_source.values() if info["source"] != "harbor.txt"]
    assert page["title"] == HEADLINE
    assert page["url"].startswith(pages.url("/news/story"))

    code, out, _ = run(["sources"], capsys)
    assert code == 0
    cells = "".join(line.strip("│ ").split("│")[0].strip() for line in out.splitlines())
    assert HEADLINE.replace(" ", "") in cells.replace(" ", "")
    assert page["url"] in cells  # the whole address, folded over lines
    assert page["source"] in cells  # the name `storybot remove` takes
    assert "harbor.txt" in cells
    assert "…" not in out


def test_private_addresses_are_refused_by_default(pages: PageServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["index", pages.url("/news/story")], capsys)
    assert code == 1
    assert err.startswith("error: ")
    assert "private" in err.lower() or "not allowed" in err.lower()
    assert "Traceback" not in err


@pytest.mark.parametrize(("path", "message"), [("/missing", "404"), ("/photo.png", "image/png")])
def test_a_bad_page_is_a_clear_error_and_keeps_what_was_indexed(
    path: str,
    message: str,
    pages: PageServer,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STORYBOT_URL_ALLOW_PRIVATE", "true")
    story = tmp_path / "harbor.txt"
    story.write_text("The harbor opened in 1902. Fishing boats filled it every spring.", encoding="utf-8")
    assert run(["index", str(story)], capsys)[0] == 0
    code, _, err = run(["index", pages.url(path)], capsys)
    assert code == 1
    assert message in err
    assert len(err.strip().splitlines()) == 1
    code, out, _ = run(["sources", "--json"], capsys)
    assert [info["source"] for info in json.loads(out)] == ["harbor.txt"]
