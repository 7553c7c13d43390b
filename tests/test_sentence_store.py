"""Sentence vectors are stored at index time, with the same guarantees as passages."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bot.service import StoryService
from index.chunking import chunk_document, passage_sentences
from index.loaders import LoadedDocument

HARBOR = LoadedDocument(
    "harbor.txt",
    "The harbor opened in 1902. Fishing boats filled it every spring.\n\n"
    "In 1950 a storm destroyed the pier. The town rebuilt it within two years.",
)
GARDEN = LoadedDocument("garden.txt", "The walled garden grows forty kinds of apple. Its gate is locked at dusk.")


def expected_sentence_ids(*documents: LoadedDocument, chunk_chars: int = 800) -> set[str]:
    return {
        s.id for d in documents for p in chunk_document(d.source, d.text, chunk_chars) for s in passage_sentences(p)
    }


def test_every_sentence_is_embedded_once_when_its_document_is_indexed(
    make_service: Callable[..., StoryService],
) -> None:
    service = make_service(chunk_chars=100, overlap_sentences=1)  # overlapping passages share sentences
    service.index_document(HARBOR)
    store = service.store()
    assert store.sentence_ids() == expected_sentence_ids(HARBOR, chunk_chars=100)
    [passage] = [p for p in store.all_passages() if "storm" in p.text][:1]
    sentences = passage_sentences(passage)
    stored = store.sentence_vectors([s.id for s in sentences])
    fresh = service.embeddings.encode_uncached([s.text for s in sentences])
    for sentence, vector in zip(sentences, fresh, strict=True):
        assert float(np.dot(stored[sentence.id], vector)) > 0.9999


def test_reindexing_updates_sentences_in_place_and_removal_deletes_them(
    make_service: Callable[..., StoryService],
) -> None:
    service = make_service()
    service.index_document(HARBOR)
    service.index_document(GARDEN)
    edited = LoadedDocument(HARBOR.source, HARBOR.text.replace("1950", "1951"))
    service.index_document(edited)
    assert service.store().sentence_ids() == expected_sentence_ids(edited, GARDEN)
    service.index_document(edited)  # unchanged: nothing added or lost
    assert service.store().sentence_ids() == expected_sentence_ids(edited, GARDEN)
    service.remove(HARBOR.source)
    assert service.store().sentence_ids() == expected_sentence_ids(GARDEN)


def test_answering_embeds_only_the_question(make_service: Callable[..., StoryService]) -> None:
    service = make_service(answerer="extractive")
    service.index_document(HARBOR)
    embedded: list[str] = []
    embeddings = service.embeddings
    original = embeddings.encode

    def counting(texts: list[str]) -> np.ndarray:  # type: ignore[type-arg]
        embedded.extend(texts)
        return original(texts)

    embeddings.encode = counting  # type: ignore[method-assign]
    try:
        answer = service.ask("When did the storm destroy the pier?")
    finally:
        embeddings.encode = original  # type: ignore[method-assign]
    assert answer.grounded
    assert embedded == ["When did the storm destroy the pier?"]


def test_an_index_written_before_sentence_vectors_is_completed_by_indexing_again(
    make_service: Callable[..., StoryService],
) -> None:
    service = make_service()
    service.index_document(HARBOR)
    store = service.store()
    store._sentences.delete(ids=sorted(store.sentence_ids()))  # as an older version left it
    assert service.ask("When did the storm destroy the pier?").grounded  # still answers, embedding on the fly
    service.index_document(HARBOR)
    assert store.sentence_ids() == expected_sentence_ids(HARBOR)
