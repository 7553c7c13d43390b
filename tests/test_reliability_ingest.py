"""Streaming ingestion: bounded batches, progress per batch, small documents sharing batches, long
texts stored in parts, and records written by earlier versions still read correctly."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from bot.service import StoryService
from index.chunking import chunk_document
from index.embeddings import MiniLMEmbeddings
from index.loaders import LoadedDocument

BATCH = 16


def _long_text(sentences: int) -> str:
    return " ".join(f"Entry {n} of the ledger records {n * 7} barrels of oil for the mill." for n in range(sentences))


@pytest.fixture
def encode_calls(embeddings: MiniLMEmbeddings, monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Every batch of texts MiniLM is asked to embed while indexing (the model itself still runs)."""
    calls: list[list[str]] = []
    original = embeddings.encode_uncached

    def spy(texts: Sequence[str]) -> Any:
        calls.append(list(texts))
        return original(texts)

    monkeypatch.setattr(embeddings, "encode_uncached", spy)
    return calls


def test_a_long_document_is_embedded_one_batch_at_a_time(
    make_service: Callable[..., StoryService], encode_calls: list[list[str]]
) -> None:
    """Memory holds one batch of embeddings, never the whole document's, and the document record
    costs no MiniLM pass over the full text. Passages and sentences are each embedded once."""
    service = make_service(index_batch_passages=BATCH, chunk_chars=200)
    document = LoadedDocument("ledger.txt", _long_text(120))
    progress: list[int] = []
    result = service.store().index_document(document, progress.append)
    passages = {p.text for p in chunk_document(document.source, document.text, 200)}
    passage_calls = [call for call in encode_calls if set(call) <= passages]
    sentence_calls = [call for call in encode_calls if call not in passage_calls]
    assert result.passages > 3 * BATCH
    assert max(len(call) for call in encode_calls) <= BATCH
    assert sum(len(call) for call in passage_calls) == result.passages
    assert sum(len(call) for call in sentence_calls) == 120  # every sentence once, though passages overlap
    assert all(len(text) <= 200 for call in encode_calls for text in call)  # never the document
    assert progress == [len(call) for call in passage_calls]  # one progress tick per batch of passages


def test_small_documents_share_batches(
    make_service: Callable[..., StoryService], encode_calls: list[list[str]]
) -> None:
    service = make_service(index_batch_passages=BATCH)
    documents = [
        LoadedDocument(f"note-{n:02d}.txt", f"Note {n} says the ferry left at {n} o'clock.") for n in range(40)
    ]
    results = list(service.store().index_documents(documents))
    assert [r.source for r in results] == [d.source for d in documents]  # one result each, in order
    assert all(r.added == r.passages == 1 for r in results)
    # sentences then passages of each group of 16 documents: not 40 calls of one passage each
    assert [len(call) for call in encode_calls] == [16, 16, 16, 16, 8, 8]
    assert len(service.sources()) == 40


def test_a_name_repeated_in_one_stream_keeps_only_the_last_version(make_service: Callable[..., StoryService]) -> None:
    service = make_service(index_batch_passages=BATCH)
    old = LoadedDocument("same.txt", "The old version mentions a red bicycle.")
    new = LoadedDocument("same.txt", "The new version mentions a blue canoe.")
    results = list(service.store().index_documents([old, new]))
    assert [r.source for r in results] == ["same.txt", "same.txt"]
    assert [p.text for p in service.store().all_passages()] == [new.text]
    assert service.store().document_text("same.txt") == new.text


def test_a_document_longer_than_one_server_request_is_stored_in_parts(
    make_service: Callable[..., StoryService], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Chroma server refuses requests over 40 MiB, so long texts are stored in parts (made tiny
    here); reading, answering, shrinking and removing all see one document."""
    monkeypatch.setattr("index.store._PART_CHARS", 40)
    service = make_service(chunk_chars=100)
    text = " ".join(f"Sentence number {n} is about the harbor." for n in range(12))
    service.index_document(LoadedDocument("long.txt", text))
    assert service.store().document_text("long.txt") == text
    assert [(s.source, s.chars) for s in service.sources()] == [("long.txt", len(text))]
    answer = service.ask("What is sentence number 7 about?")
    assert answer.grounded
    assert text[answer.citations[0].start : answer.citations[0].end] == answer.citations[0].passage
    shorter = text[:70]
    service.index_document(LoadedDocument("long.txt", shorter))
    assert service.store().document_text("long.txt") == shorter
    assert service.store()._documents.count() == 2  # the main record and one part: the rest went
    service.remove("long.txt")
    assert service.store()._documents.count() == 0


def test_records_written_before_lengths_were_kept_still_read(make_service: Callable[..., StoryService]) -> None:
    """Collections indexed by earlier versions have records without "chars" or "parts"."""
    service = make_service()
    store = service.store()
    text = "An old record about the harbor, written before parts existed."
    store.index_document(LoadedDocument("old.txt", text))
    store._documents.upsert(
        ids=["old.txt"],
        documents=[text],
        metadatas=[{"source": "old.txt", "sha256": "legacy", "passages": 1}],
        embeddings=store.embeddings.encode_uncached([text]),
    )
    assert [(s.source, s.passages, s.chars) for s in service.sources()] == [("old.txt", 1, len(text))]
    assert store.document_text("old.txt") == text
    assert store.index_document(LoadedDocument("old.txt", text)).unchanged
    assert {p.id for p in store.all_passages()} == {p.id for p in chunk_document("old.txt", text)}
