"""The keyword index kept on disk: a fresh process reuses it, and never a stale or broken one."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from bot.service import StoryService
from index.loaders import LoadedDocument
from index.retriever import KeywordIndexCache

BRIDGE = LoadedDocument("bridge.txt", "The Elm Street bridge will reopen on June 12 after two years of repairs.")
FERRY = LoadedDocument("ferry.txt", "The night ferry to Port Alder stops running in October.")


def search_sources(cache: KeywordIndexCache, service: StoryService, words: list[str]) -> list[str]:
    index = cache.get(service.store(service.settings.collection))
    return [passage.source for passage, _ in index.search(words, 5)]


def test_a_fresh_cache_reads_the_index_another_process_wrote(
    make_story_service: Callable[..., StoryService], tmp_path: Path
) -> None:
    service = make_story_service(BRIDGE)
    first = KeywordIndexCache(tmp_path / "keywords")
    assert search_sources(first, service, ["bridg"]) == ["bridge.txt"]
    [written] = (tmp_path / "keywords").glob("*.json")

    again = KeywordIndexCache(tmp_path / "keywords")  # as a new `storybot ask` would
    index = again.get(service.store(service.settings.collection))
    assert [p.text for p in index.passages] == [BRIDGE.text]
    assert index.passages[0].sentences  # sentence spans survive the round trip
    assert written.exists()


def test_the_cache_follows_the_collection_when_it_changes(
    make_story_service: Callable[..., StoryService], tmp_path: Path
) -> None:
    service = make_story_service(BRIDGE)
    directory = tmp_path / "keywords"
    assert search_sources(KeywordIndexCache(directory), service, ["ferri"]) == []
    service.index_document(FERRY)
    assert search_sources(KeywordIndexCache(directory), service, ["ferri"]) == ["ferry.txt"]
    service.remove("ferry.txt")
    assert search_sources(KeywordIndexCache(directory), service, ["ferri"]) == []


def test_a_broken_cache_file_is_rebuilt_not_trusted(
    make_story_service: Callable[..., StoryService], tmp_path: Path
) -> None:
    service = make_story_service(BRIDGE)
    directory = tmp_path / "keywords"
    search_sources(KeywordIndexCache(directory), service, ["bridg"])
    [written] = directory.glob("*.json")
    written.write_text('{"revision": "', encoding="utf-8")
    assert search_sources(KeywordIndexCache(directory), service, ["bridg"]) == ["bridge.txt"]
    assert json.loads(written.read_text(encoding="utf-8"))["passages"][0]["source"] == "bridge.txt"  # rewritten
