"""``storybot run``: a missing or rejected token, or a refused intent, is one clear error line."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from bot.discord.runner import MISSING_INTENT, MISSING_TOKEN, REJECTED_TOKEN, run_bot
from config import load_settings
from index.embeddings import MiniLMEmbeddings
from index.errors import StoryBotError
from tests.fake_discord import FakeDiscord


def test_a_missing_token_is_reported_before_anything_starts(tmp_path: Path) -> None:
    with pytest.raises(StoryBotError) as raised:
        run_bot(load_settings(data_dir=str(tmp_path)))
    assert str(raised.value) == MISSING_TOKEN
    assert list(tmp_path.iterdir()) == []  # nothing was created


def test_the_cli_prints_one_line_for_a_missing_token(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["run"])
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: No Discord bot token")
    assert "Traceback" not in err


def test_the_token_may_come_from_discord_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "abc")
    assert load_settings().discord_token.get_secret_value() == "abc"


def test_a_rejected_token_is_one_clear_error(tmp_path: Path) -> None:
    with FakeDiscord() as fake, fake.patch_discord(), pytest.raises(StoryBotError) as raised:
        run_bot(load_settings(data_dir=str(tmp_path), discord_token="not-the-token"))
    assert str(raised.value) == REJECTED_TOKEN
    assert fake.rejections[0].status == 401


def test_a_refused_message_content_intent_is_one_clear_error(tmp_path: Path, embeddings: MiniLMEmbeddings) -> None:
    with (
        FakeDiscord(message_content_allowed=False) as fake,
        fake.patch_discord(),
        pytest.raises(StoryBotError) as raised,
    ):
        run_bot(load_settings(data_dir=str(tmp_path), discord_token=fake.app.token), warm_up=False)
    assert str(raised.value) == MISSING_INTENT
    assert fake.identifies, "the bot got as far as the gateway"


def test_a_database_that_cannot_be_used_is_one_clear_error(tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=str(tmp_path), discord_token="token", database_url="mysql://bot:hunter2@127.0.0.1/story"
    )
    with pytest.raises(StoryBotError) as raised:
        run_bot(settings)
    message = str(raised.value)
    assert message.startswith("Unsupported database 'mysql'")
    assert "hunter2" not in message
    assert "\n" not in message
