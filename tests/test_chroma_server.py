"""Server mode: STORYBOT_CHROMA_URL points story-bot at a real `chroma run` process.

The store, answer and CLI tests written for the embedded store run here again, unchanged, against
the server (they are imported below, and this module's ``make_service`` and environment point them
at it). The tests after them cover what only a server can do: be unreachable, hang, or go away
and come back.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

import tests.test_answer_chain as answer_tests
import tests.test_cli as cli_tests
import tests.test_reliability_crash as crash_tests
import tests.test_reliability_ingest as ingest_tests
import tests.test_store as store_tests
from bot.service import StoryService
from config import load_settings
from index.chroma_embedding import StoryBotEmbeddingFunction
from index.embeddings import MiniLMEmbeddings
from index.errors import StoreError
from index.loaders import LoadedDocument
from index.store import open_client
from tests.chroma_server import ChromaServer, free_port

# --- tests written for the embedded store, run against the server ------------------------------

test_reindexing_the_same_document_changes_nothing = store_tests.test_reindexing_the_same_document_changes_nothing
test_updating_a_document_replaces_its_passages = store_tests.test_updating_a_document_replaces_its_passages
test_remove_deletes_every_passage_of_a_source = store_tests.test_remove_deletes_every_passage_of_a_source
test_sources_report_passage_counts = store_tests.test_sources_report_passage_counts
test_collections_are_separate = store_tests.test_collections_are_separate
test_keyword_index_sees_changes_made_through_another_store_object = (
    store_tests.test_keyword_index_sees_changes_made_through_another_store_object
)
service = answer_tests.service  # the fixture the answer tests use: the festival story alone
test_the_opening_date_is_answered_with_a_verbatim_quote = (
    answer_tests.test_the_opening_date_is_answered_with_a_verbatim_quote
)
test_questions_the_story_does_not_answer_are_refused = answer_tests.test_questions_the_story_does_not_answer_are_refused
test_a_follow_up_uses_the_previous_question = answer_tests.test_a_follow_up_uses_the_previous_question
test_answers_come_from_newly_indexed_documents = answer_tests.test_answers_come_from_newly_indexed_documents
test_async_callers_get_the_same_answer = answer_tests.test_async_callers_get_the_same_answer
test_ask_json_contract = cli_tests.test_ask_json_contract
test_index_sources_remove_round_trip = cli_tests.test_index_sources_remove_round_trip
test_jsonl_batch_keeps_going_after_bad_lines = cli_tests.test_jsonl_batch_keeps_going_after_bad_lines
test_unsupported_file_is_reported_and_others_still_indexed = (
    cli_tests.test_unsupported_file_is_reported_and_others_still_indexed
)
test_a_document_longer_than_one_server_request_is_stored_in_parts = (
    ingest_tests.test_a_document_longer_than_one_server_request_is_stored_in_parts
)
test_small_documents_share_batches = ingest_tests.test_small_documents_share_batches
encode_calls = ingest_tests.encode_calls  # the fixture that test uses
test_questions_asked_while_another_thread_indexes_never_fail = (
    crash_tests.test_questions_asked_while_another_thread_indexes_never_fail
)
test_reindexing_the_same_document_from_two_threads_leaves_one_copy = (
    crash_tests.test_reindexing_the_same_document_from_two_threads_leaves_one_copy
)


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaServer]:
    """One `chroma run` for the session, on a free port with a temporary path."""
    server = ChromaServer(tmp_path_factory.mktemp("chroma-server") / "db").start()
    yield server
    server.stop()


@pytest.fixture
def server_url(chroma_server: ChromaServer, isolated_environment: None, monkeypatch: pytest.MonkeyPatch) -> str:
    """The shared server, emptied, and STORYBOT_CHROMA_URL pointing at it (for the CLI tests)."""
    client = open_client(Path("."), chroma_server.url)
    for collection in client.list_collections():
        client.delete_collection(collection.name)
    monkeypatch.setenv("STORYBOT_CHROMA_URL", chroma_server.url)
    return chroma_server.url


@pytest.fixture(autouse=True)
def _every_test_uses_the_server(server_url: str) -> None:
    """Even tests that build their own settings (the CLI's) see the server through the environment."""


@pytest.fixture
def make_service(embeddings: MiniLMEmbeddings, server_url: str, tmp_path: Path) -> Callable[..., StoryService]:
    """Like conftest's ``make_service``, but every service talks to the Chroma server."""

    def build(**overrides: Any) -> StoryService:
        overrides.setdefault("data_dir", str(tmp_path / "data"))
        overrides.setdefault("chroma_url", server_url)
        return StoryService(load_settings(**overrides), embeddings)

    return build


# --- what the server holds ---------------------------------------------------------------------


def test_server_collections_carry_our_embedding_function_and_cosine(service: StoryService, server_url: str) -> None:
    """Another client that opens the collection without naming an embedding function gets ours
    (rebuilt from the registered config, never Chroma's downloading default) and cosine space."""
    client = open_client(Path("."), server_url)
    names = {c.name for c in client.list_collections()}
    assert {"story", "story.documents"} <= names
    collection = client.get_collection("story")
    assert collection.configuration_json["hnsw"]["space"] == "cosine"
    assert collection.configuration_json["embedding_function"]["name"] == StoryBotEmbeddingFunction.name()
    assert isinstance(collection.configuration["embedding_function"], StoryBotEmbeddingFunction)
    passage = service.store().all_passages()[0]
    hits = collection.query(query_texts=[passage.text], n_results=1, include=["distances"])
    assert hits["ids"][0] == [passage.id]
    assert (hits["distances"] or [[1.0]])[0][0] < 1e-3


def test_the_configured_timeout_is_applied(make_service: Callable[..., StoryService]) -> None:
    service = make_service(chroma_timeout=2.5)
    session = service.store()._client._server._session  # type: ignore[attr-defined]
    assert session.timeout.connect == 2.5
    assert session.timeout.pool == 2.5


# --- unreachable, hung and wrong servers -------------------------------------------------------


def _elapsed(action: Callable[[], object]) -> tuple[BaseException, float]:
    started = time.monotonic()
    with pytest.raises(StoreError) as raised:
        action()
    return raised.value, time.monotonic() - started


def test_an_unreachable_server_is_a_clear_error_within_the_timeout(make_service: Callable[..., StoryService]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    service = make_service(chroma_url=url, chroma_timeout=1.0)
    error, seconds = _elapsed(lambda: service.ask("When will Mayor Calloway open the Lantern Festival?"))
    assert str(error).startswith("Cannot reach the Chroma server")
    assert url not in str(error)
    assert error.detail is not None
    assert url in error.detail
    assert seconds < 10  # generous: the point is "seconds, not minutes"


def test_a_server_that_never_answers_is_reported_within_the_timeout(
    make_service: Callable[..., StoryService],
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel accepts connections; nobody ever reads or answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        service = make_service(chroma_url=url, chroma_timeout=1.0)
        error, seconds = _elapsed(lambda: service.sources())
    assert "Cannot reach the Chroma server" in str(error)
    assert "no answer in time" in str(error)
    assert seconds < 10


class _NotChroma(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(404)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default request log."""


def test_a_server_that_is_not_chroma_is_reported(make_service: Callable[..., StoryService]) -> None:
    httpd = HTTPServer(("127.0.0.1", 0), _NotChroma)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        service = make_service(chroma_url=f"http://127.0.0.1:{httpd.server_address[1]}")
        with pytest.raises(StoreError, match=r"answered HTTP 404 .* is it a Chroma server"):
            service.sources()
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.parametrize("url", ["localhost:8000", "ftp://host:1", "http://", "http://host:notaport"])
def test_a_malformed_url_is_a_clear_error(make_service: Callable[..., StoryService], url: str) -> None:
    with pytest.raises(StoreError, match="STORYBOT_CHROMA_URL is not a valid address"):
        make_service(chroma_url=url).sources()


def test_the_cli_reports_an_unreachable_server_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("STORYBOT_CHROMA_URL", url)
    monkeypatch.setenv("STORYBOT_CHROMA_TIMEOUT", "1")
    code, out, err = cli_tests.run_cli(["ask", "When will the Elm Street bridge reopen?"], capsys)
    assert code == 1
    assert err.startswith("error: Cannot reach the Chroma server")
    assert url not in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in out + err


# --- the server goes away and comes back -------------------------------------------------------


def test_the_same_service_recovers_when_the_server_comes_back(
    make_service: Callable[..., StoryService], tmp_path: Path
) -> None:
    """Down at first use, up, down mid-life, up again: every failure is a StoreError naming the
    server, and each time it is back the same service object works, with nothing restarted."""
    server = ChromaServer(tmp_path / "restarting-db")
    service = make_service(chroma_url=server.url)
    question = "When will Mayor Calloway open the Lantern Festival?"
    try:
        _assert_unreachable(service, server.url)
        server.start()
        service.index_document(answer_tests.FESTIVAL)
        assert service.ask(question).grounded
        server.stop()
        _assert_unreachable(service, server.url)
        server.start()
        assert service.ask(question).grounded
        service.index_document(LoadedDocument("zoo.txt", "The zoo's oldest giraffe, Mabel, turned 31 in March."))
        assert {s.source for s in service.sources()} == {answer_tests.FESTIVAL.source, "zoo.txt"}
        assert service.ask("How old did Mabel the giraffe turn?").citations[0].source == "zoo.txt"
    finally:
        server.stop()


def _assert_unreachable(service: StoryService, url: str) -> None:
    """Every kind of operation fails with the same clear message while the server is down."""
    operations: list[Callable[[], object]] = [
        lambda: service.ask("When will Mayor Calloway open the Lantern Festival?"),
        lambda: service.sources(),
        lambda: service.index_document(LoadedDocument("x.txt", "Some text about nothing in particular.")),
        lambda: service.remove("x.txt"),
        lambda: service.store("another-collection"),
    ]
    for operation in operations:
        error, _ = _elapsed(operation)
        assert str(error).startswith("Cannot reach the Chroma server"), error
        assert url not in str(error)
