"""The passage store on a real embedded Chroma with the real MiniLM."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.service import StoryService
from index.chunking import chunk_document
from index.errors import StoreError
from index.loaders import LoadedDocument
from index.store import validate_collection_name

STORY = LoadedDocument(
    "harbor.txt",
    "The harbor opened in 1902. Fishing boats filled it every spring.\n\n"
    "In 1950 a storm destroyed the pier. The town rebuilt it within two years.",
)


def _ids(service: StoryService) -> set[str]:
    return {p.id for p in service.store().all_passages()}


def test_reindexing_the_same_document_changes_nothing(make_service: Callable[..., StoryService]) -> None:
    service = make_service(chunk_chars=100)
    first = service.index_document(STORY)
    ids = _ids(service)
    second = service.index_document(STORY)
    assert first.added == first.passages > 1
    assert second.unchanged
    assert _ids(service) == ids
    assert service.store().count() == first.passages


def test_updating_a_document_replaces_its_passages(make_service: Callable[..., StoryService]) -> None:
    service = make_service(chunk_chars=100)
    service.index_document(STORY)
    edited = LoadedDocument(STORY.source, STORY.text.replace("1950", "1951"))
    result = service.index_document(edited)
    assert result.removed >= 1
    assert result.added >= 1
    expected = {p.id for p in chunk_document(edited.source, edited.text, 100)}
    assert _ids(service) == expected
    assert service.store().document_text(STORY.source) == edited.text


def test_remove_deletes_every_passage_of_a_source(make_service: Callable[..., StoryService]) -> None:
    service = make_service()
    service.index_document(STORY)
    other = LoadedDocument("other.txt", "An unrelated note about gardens.")
    service.index_document(other)
    assert service.remove(STORY.source) >= 1
    assert {p.source for p in service.store().all_passages()} == {"other.txt"}
    assert [s.source for s in service.sources()] == ["other.txt"]
    assert service.store().document_text(STORY.source) is None
    assert service.remove(STORY.source) == 0


def test_sources_report_passage_counts(make_service: Callable[..., StoryService]) -> None:
    service = make_service(chunk_chars=100)
    result = service.index_document(STORY)
    [info] = service.sources()
    assert (info.source, info.passages, info.chars) == ("harbor.txt", result.passages, len(STORY.text))


def test_collections_are_separate(make_service: Callable[..., StoryService]) -> None:
    service = make_service()
    service.index_document(STORY, "guild-1")
    assert service.sources("guild-2") == []
    assert [s.source for s in service.sources("guild-1")] == ["harbor.txt"]


def test_keyword_index_sees_changes_made_through_another_store_object(
    make_service: Callable[..., StoryService],
) -> None:
    writer = make_service()
    reader = make_service(data_dir=writer.settings.data_dir)
    writer.index_document(STORY)
    assert reader.ask("When did the storm destroy the pier?").grounded
    writer.index_document(LoadedDocument("zoo.txt", "The zoo's oldest giraffe, Mabel, turned 31 in March."))
    answer = reader.ask("How old did the giraffe Mabel turn?")
    assert answer.grounded
    assert answer.citations[0].source == "zoo.txt"


@pytest.mark.parametrize("name", ["ab", "-bad", "has space", "x" * 64, "dots.dots"])
def test_invalid_collection_names_are_refused(name: str) -> None:
    with pytest.raises(StoreError, match="Invalid collection name"):
        validate_collection_name(name)
