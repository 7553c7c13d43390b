"""Long indexing jobs report progress, and web pages are shown by title with their address.

The store counts the passages it plans and writes (real MiniLM and Chroma); the Discord face turns
the counts into "Indexing **Title**… 40/120 passages" and edits its reply at most once per
interval (a fake clock here, no waiting); citations, listings and replies name a web page by its
title and link its address.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from bot.answering.data import Answer, Citation
from bot.discord.backend import AddedDocument, find_source
from bot.discord.docs_cog import BOTH, NEITHER, added_text, check_one_source
from bot.discord.progress import IndexingStatus, PassageCount, ThrottledEdits, progress_text
from bot.discord.render import (
    SourceLabel,
    labels_of,
    listed_source,
    markdown_link,
    render_answer,
    render_listing,
    safe_url,
    sources_line,
)
from bot.discord.shown import answer_payload, labels_from_payload
from bot.service import StoryService
from index.errors import StoryBotError
from index.loaders import LoadedDocument
from index.store import IndexResult, SourceInfo

PAGE = "news.example-bridge-reopens-1a2b3c4d5e.html"
URL = "https://news.example/news/bridge-reopens"
TITLE = "Harbor bridge to reopen in June"
LABELS = {PAGE: SourceLabel(TITLE, URL)}


class FakeClock:
    """Time that moves only when something sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


# --- the store's counts ---------------------------------------------------------------------


def test_the_store_reports_passages_planned_and_written(make_service: Callable[..., StoryService]) -> None:
    service = make_service(chunk_chars=100, index_batch_passages=2)
    text = " ".join(f"Sentence number {i} tells of the harbor and its ferry." for i in range(12))
    planned: list[int] = []
    written: list[int] = []
    result = service.index_document(LoadedDocument("long.txt", text), None, written.append, planned.append)
    assert planned == [result.passages]
    assert sum(written) == result.passages
    assert max(written) <= 2  # one report per batch, as the batches are written
    assert len(written) > 2
    planned.clear()
    written.clear()
    again = service.index_document(LoadedDocument("long.txt", text), None, written.append, planned.append)
    assert again.unchanged
    assert planned == [0]
    assert written == []  # nothing to rewrite
    assert len(service.store().sentence_ids()) == 12  # every sentence stored, each once


def test_progress_counts_become_one_line() -> None:
    seen: list[IndexingStatus] = []
    count = PassageCount("Bridge *reopens*", seen.append)
    count.planned(120)
    count.written(40)
    assert seen[-1] == IndexingStatus("Bridge *reopens*", 40, 120)
    assert progress_text(seen[-1]) == "Indexing **Bridge \\*reopens\\***… 40/120 passages"
    assert progress_text(IndexingStatus("x.txt")) == "Indexing **x.txt**…"


# --- throttled edits --------------------------------------------------------------------------


async def test_a_quick_job_edits_nothing() -> None:
    clock = FakeClock()
    shown: list[str] = []

    async def show(text: str) -> None:
        shown.append(text)

    async with ThrottledEdits(show, 2.0, clock, sleep=asyncio.sleep) as edits:
        edits.update("1/3")
        edits.update("3/3")  # the job ends before two seconds have passed
    await settle()
    assert shown == []


async def test_a_long_job_shows_its_latest_state_at_most_once_per_interval() -> None:
    clock = FakeClock()
    shown: list[tuple[float, str]] = []
    release = asyncio.Event()

    async def show(text: str) -> None:
        shown.append((clock.now, text))
        await release.wait()  # the edit takes a while: states queue up meanwhile

    async with ThrottledEdits(show, 2.0, clock, clock.sleep) as edits:
        edits.update("0/120")
        await settle()
        assert shown == [(2.0, "0/120")]  # not before the interval
        edits.update("40/120")
        edits.update("80/120")  # only the latest is worth showing
        release.set()
        await settle()
        assert shown == [(2.0, "0/120"), (4.0, "80/120")]
        edits.update("80/120")  # no change: no edit
        await settle()
        assert len(shown) == 2


async def test_states_from_a_worker_thread_are_shown_on_the_loop() -> None:
    shown: list[str] = []

    async def show(text: str) -> None:
        shown.append(text)

    async with ThrottledEdits(show, 0.0) as edits:
        await asyncio.to_thread(edits.update_from_thread, "Indexing… 2/4 passages")
        for _ in range(100):
            if shown:
                break
            await asyncio.sleep(0.01)
    assert shown == ["Indexing… 2/4 passages"]


async def test_a_failed_edit_does_not_fail_the_job() -> None:
    async def show(text: str) -> None:
        raise RuntimeError("Discord said no")

    async with ThrottledEdits(show, 0.0) as edits:
        edits.update("1/2")
        await settle()
    edits.update("2/2")  # after closing: ignored


# --- titles and addresses ---------------------------------------------------------------------


def answer_citing(*sources: str) -> Answer:
    citations = [Citation(n, source, 0, 10, "The bridge.") for n, source in enumerate(sources, start=1)]
    return Answer("When?", "The bridge.", True, citations)


def test_citations_name_a_web_page_by_title_and_link_it() -> None:
    [page] = render_answer(answer_citing(PAGE, "notes.txt", PAGE), LABELS)
    assert page.footer == f"{TITLE} [1][3] · notes.txt [2]"  # footers can't hold links
    assert page.description.endswith(f"🔗 [{TITLE}]({URL}) [1][3]")
    [plain] = render_answer(answer_citing("notes.txt"))
    assert plain.footer == "notes.txt [1]"
    assert "🔗" not in plain.description


def test_labels_are_saved_with_the_answer() -> None:
    payload = answer_payload(answer_citing(PAGE), LABELS)
    assert labels_from_payload(payload) == LABELS
    assert labels_from_payload(answer_payload(answer_citing("notes.txt"))) == {}
    assert labels_from_payload({"labels": "garbage"}) == {}


def test_links_never_break_out_of_their_markdown() -> None:
    assert safe_url("javascript:alert(1)") is None
    assert safe_url("https://x.example/a (b)>") == "https://x.example/a%20%28b%29%3E"
    assert markdown_link("A [tricky] *title*", "https://x.example/", preview=False) == (
        "[A \\[tricky\\] \\*title\\*](<https://x.example/>)"
    )
    assert markdown_link("no address", None) == "no address"


def test_listings_show_titles_linked_and_file_names_where_there_is_no_address() -> None:
    infos = [
        SourceInfo(PAGE, 3, 1200, TITLE, URL),
        SourceInfo("saved-page.html", 2, 800, "Saved page"),
        SourceInfo("notes.txt", 1, 10),
    ]
    assert listed_source(infos[0]) == f"**[{TITLE}]({URL})**"
    assert listed_source(infos[1]) == "**Saved page** (saved-page.html)"
    assert listed_source(infos[2]) == "**notes.txt**"
    [page] = render_listing(infos, in_guild=True, own=True, sample=False)
    assert f"[{TITLE}]({URL})**: 3 passages" in page.description
    assert labels_of(infos) == {PAGE: SourceLabel(TITLE, URL), "saved-page.html": SourceLabel("Saved page")}
    assert sources_line(answer_citing("saved-page.html").citations, labels_of(infos)) == "Saved page [1]"


def test_a_document_is_found_by_name_address_or_title() -> None:
    infos = [SourceInfo(PAGE, 3, 1200, TITLE, URL), SourceInfo("notes.txt", 1, 10)]
    assert find_source(infos, "notes.txt") == infos[1]
    assert find_source(infos, "http://www.news.example/news/bridge-reopens/?utm_source=x") == infos[0]
    assert find_source(infos, TITLE.upper()) == infos[0]
    assert find_source(infos, "nothing") is None
    twins = [*infos, SourceInfo("other.html", 1, 10, TITLE)]
    assert find_source(twins, TITLE) is None  # two documents with that title: ambiguous


def test_the_reply_says_what_was_added_updated_or_already_there() -> None:
    new = AddedDocument(IndexResult(PAGE, 12, 12, 0), TITLE, URL)
    assert added_text(new).startswith(f"Added **[{TITLE}](<{URL}>)** (12 passages).")
    updated = AddedDocument(IndexResult(PAGE, 12, 3, 2), TITLE, URL)
    assert added_text(updated) == f"Updated **[{TITLE}](<{URL}>)** (12 passages: 3 new, 2 gone)."
    same = AddedDocument(IndexResult("notes.txt", 1, 0, 0))
    assert added_text(same) == "**notes.txt** is already in this server's documents, unchanged (1 passage)."


@pytest.mark.parametrize(
    ("has_file", "url", "message"), [(False, None, NEITHER), (False, "  ", NEITHER), (True, URL, BOTH)]
)
def test_docs_add_takes_one_file_or_one_address(has_file: bool, url: str | None, message: str) -> None:
    with pytest.raises(StoryBotError) as refused:
        check_one_source(has_file, url)
    assert str(refused.value) == message
    check_one_source(True, None)
    check_one_source(False, URL)
