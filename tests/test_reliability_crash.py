"""Crash safety and concurrency: `storybot index` killed with SIGKILL mid-ingest and run again
ends exactly like a clean index; questions asked while indexing runs (in another thread or
another process) never fail.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from bot.answering.data import Answer
from bot.service import StoryService
from index.chunking import chunk_document, passage_sentences
from index.loaders import LoadedDocument, load_document
from index.store import IndexResult, PassageStore

BATCH = 16  # passages per write: small, so a run spends most of its time between consistent states
WAIT_SECONDS = 900  # safety net for a hung process, not a performance assertion

ALMANAC = LoadedDocument(
    "almanac.txt",
    "The Port Alder Almanac\n\n"
    "The Port Alder almanac is printed every November by the harbour office. "
    "This year it lists the tide tables, the ferry timetable and the dates of the Lantern Festival.",
)

_PLACES = "harbor mill bridge school chapel market lighthouse quarry ferry station".split()
_PEOPLE = "Ada Price|Tomas Reyes|Mei Lin|Olu Adeyemi|Sara Berg|Jonas Weber|Lena Novak|Ravi Iyer".split("|")


def _report(number: int, sentences: int) -> str:
    """A deterministic made-up town report: distinct sentences, so every passage is distinct."""
    rng = random.Random(number)
    lines = []
    for i in range(sentences):
        place, person = rng.choice(_PLACES), rng.choice(_PEOPLE)
        year = rng.randint(1850, 2020)
        lines.append(f"In {year}, {person} inspected the {place} of district {number} for the {i + 1}th time.")
    return " ".join(lines)


def _corpus(directory: Path, documents: int, sentences: int) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in range(documents):
        path = directory / f"report-{number:02d}.txt"
        path.write_text(_report(number, sentences), encoding="utf-8")
        paths.append(path)
    return paths


def _expected_sentence_ids(store: PassageStore, paths: list[Path]) -> set[str]:
    """The sentence ids a clean index of these files stores (one vector per distinct sentence)."""
    ids: set[str] = set()
    for path in paths:
        document = load_document(path)
        for passage in chunk_document(document.source, document.text, store.chunk_chars, 1):
            ids |= {s.id for s in passage_sentences(passage)}
    return ids


def _expected_ids(store: PassageStore, paths: list[Path]) -> set[str]:
    """The passage ids a clean index of these files produces (ids depend only on the text)."""
    ids: set[str] = set()
    for path in paths:
        document = load_document(path)
        ids |= {p.id for p in chunk_document(document.source, document.text, store.chunk_chars, 1)}
    return ids


def _check(service: StoryService, answer: Answer) -> None:
    """An answer is either a verbatim-cited answer or a refusal; nothing in between."""
    assert answer.answer.strip()
    assert not answer.grounded or answer.citations
    for citation in [*answer.citations, *answer.related]:
        text = service.store().document_text(citation.source)
        assert text is not None
        assert text[citation.start : citation.end] == citation.passage


def _ask_until(service: StoryService, done: Callable[[], bool], questions: list[str]) -> int:
    """Ask questions in turn until ``done()``; every answer must check out. Returns how many."""
    asked = 0
    while not done() or asked == 0:
        _check(service, service.ask(questions[asked % len(questions)]))
        asked += 1
    return asked


QUESTIONS = [
    "Who inspected the lighthouse of district 3?",
    "When is the Port Alder almanac printed?",
    "When did Ada Price inspect the quarry?",
    "What is the population of Brazil?",
]


def test_sigkill_mid_ingest_then_rerun_equals_a_clean_index(
    make_service: Callable[..., StoryService], tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    service = make_service(data_dir=str(data_dir))
    service.index_document(ALMANAC)  # indexed before the crash: must survive it untouched
    store = service.store()
    almanac_ids = {p.id for p in store.all_passages()}
    almanac_sentences = store.sentence_ids()
    paths = _corpus(tmp_path / "reports", documents=8, sentences=400)
    expected = _expected_ids(store, paths)
    first_document = len(_expected_ids(store, paths[:1]))
    env = {**os.environ, "STORYBOT_DATA_DIR": str(data_dir), "STORYBOT_INDEX_BATCH_PASSAGES": str(BATCH)}
    command = [sys.executable, "-m", "bot", "index", "--json", str(tmp_path / "reports")]

    indexer = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # Kill once the first report is complete and the second is part-way: passages of a document
    # without its record, the state a crash is most likely to leave behind.
    _wait_for(lambda: store.count() > len(almanac_ids) + first_document, indexer)
    assert indexer.poll() is None, "the corpus was indexed before it could be interrupted"
    indexer.send_signal(signal.SIGKILL)
    indexer.communicate(timeout=WAIT_SECONDS)
    assert indexer.returncode == -signal.SIGKILL
    assert len(almanac_ids) < store.count() < len(almanac_ids) + len(expected)  # really mid-way

    rerun = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    asked = _ask_until(service, lambda: rerun.poll() is not None, QUESTIONS)  # another process, meanwhile
    _, err = rerun.communicate(timeout=WAIT_SECONDS)
    assert rerun.returncode == 0, err.decode()
    assert asked > 0

    stored = {p.id for p in store.all_passages()}
    assert stored == almanac_ids | expected  # nothing lost, nothing stale
    assert store.count() == len(almanac_ids) + len(expected)  # nothing duplicated
    assert store.sentence_ids() == almanac_sentences | _expected_sentence_ids(store, paths)  # sentence vectors too
    counts = {info.source: info.passages for info in service.sources()}
    assert counts == {ALMANAC.source: len(almanac_ids)} | {
        path.name: len(_expected_ids(store, [path])) for path in paths
    }
    for path in paths:
        assert store.document_text(path.name) == load_document(path).text
    answer = service.ask("Who inspected the lighthouse of district 3 for the 7th time?")
    assert answer.grounded
    assert answer.citations[0].source == "report-03.txt"


def _wait_for(condition: Callable[[], bool], process: subprocess.Popen[bytes]) -> None:
    """Poll until ``condition()`` holds; fail if the process ends first (or hangs for minutes)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert process.poll() is None, process.communicate()[1].decode()[-2000:]
        assert time.monotonic() < deadline, "the indexer made no progress"
        time.sleep(0.05)


def test_questions_asked_while_another_thread_indexes_never_fail(
    make_service: Callable[..., StoryService], tmp_path: Path
) -> None:
    service = make_service(index_batch_passages=BATCH)
    service.index_document(ALMANAC)
    paths = _corpus(tmp_path / "reports", documents=4, sentences=150)
    outcome: list[object] = []

    def index() -> None:
        try:
            outcome.extend(service.index_paths(paths))
        except BaseException as exc:  # reported to the main thread, which asserts on it
            outcome.append(exc)

    indexer = threading.Thread(target=index)
    indexer.start()
    asked = _ask_until(service, lambda: not indexer.is_alive(), QUESTIONS)
    indexer.join()
    assert asked > 0
    assert len(outcome) == len(paths)
    assert all(isinstance(o, IndexResult) for o in outcome), outcome
    answer = service.ask("Who inspected the lighthouse of district 3 for the 7th time?")
    assert answer.grounded


def test_reindexing_the_same_document_from_two_threads_leaves_one_copy(
    make_service: Callable[..., StoryService],
) -> None:
    """Two indexers racing on one document (two users uploading it) must not duplicate it: two
    services, so two store objects and no shared lock between them, over the same collection."""
    first = make_service(index_batch_passages=BATCH)
    second = make_service(index_batch_passages=BATCH, data_dir=first.settings.data_dir)
    document = LoadedDocument("report.txt", _report(1, 120))
    errors: list[BaseException] = []

    def index(service: StoryService) -> None:
        try:
            service.index_document(document)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=index, args=(service,)) for service in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    expected = {p.id for p in chunk_document(document.source, document.text, 800, 1)}
    assert {p.id for p in first.store().all_passages()} == expected
    assert first.store().count() == len(expected)
    assert [info.passages for info in second.sources()] == [len(expected)]
