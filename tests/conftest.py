"""Shared fixtures: an isolated environment, the real MiniLM (loaded once), real Chroma in tmp dirs."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from index.embeddings import force_offline

force_offline()

from langchain_core.language_models import BaseChatModel  # noqa: E402

from bot.llm.model import chat_model_from_settings  # noqa: E402
from bot.service import StoryService  # noqa: E402
from config import Settings, load_settings  # noqa: E402
from index.embeddings import MiniLMEmbeddings, shared_embeddings  # noqa: E402
from index.loaders import LoadedDocument  # noqa: E402
from tests.postgres_server import PostgresServer, PostgresUnavailable, running_postgres  # noqa: E402


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the developer's settings, token or data: every STORYBOT_* variable is
    cleared and the data directory is a fresh temporary folder."""
    for key in list(os.environ):
        if key.startswith("STORYBOT_") or key == "DISCORD_TOKEN":
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("STORYBOT_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture(scope="session")
def embeddings() -> MiniLMEmbeddings:
    """The real all-MiniLM-L6-v2, loaded once for the whole run."""
    settings = Settings()
    return shared_embeddings(settings.resolved_model_path(), settings.embed_batch_size, settings.embedding_cache_size)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=str(tmp_path / "data"))


@pytest.fixture
def make_service(embeddings: MiniLMEmbeddings, tmp_path: Path) -> Callable[..., StoryService]:
    """Build a StoryService over its own data directory, with optional setting overrides and a
    chat model (a fake passed in, or the one the settings configure)."""
    counter = iter(range(1_000_000))

    def build(chat_model: BaseChatModel | None = None, **overrides: Any) -> StoryService:
        overrides.setdefault("data_dir", str(tmp_path / f"data-{next(counter)}"))
        settings = load_settings(**overrides)
        source = chat_model or chat_model_from_settings(settings)
        return StoryService(settings, embeddings, chat_model=source)

    return build


@pytest.fixture
def make_story_service(make_service: Callable[..., StoryService]) -> Callable[..., StoryService]:
    """Build a service (as ``make_service`` does) whose default collection holds just the given
    documents: small stories written for the test, whose facts any sensible answerer finds in the
    same sentence. Only tests/test_seed_story.py answers from the bundled seed story."""

    def build(*documents: LoadedDocument, **overrides: Any) -> StoryService:
        built = make_service(**overrides)
        for document in documents:
            built.index_document(document)
        return built

    return build


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the session, started by the tests themselves (skipped, with
    the reason, where PostgreSQL is not installed)."""
    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(running_postgres())
        except PostgresUnavailable as error:
            pytest.skip(f"PostgreSQL unavailable: {error}")
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database on the session's server, dropped after the test."""
    name = postgres_server.create_database()
    try:
        yield postgres_server.url(name)
    finally:
        postgres_server.drop_database(name)
