"""Settings: defaults from config/default.toml, STORYBOT_* overrides, and packaging of the defaults."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from pydantic import ValidationError

from config import Settings, load_settings
from config.settings import read_default_toml


def test_every_default_key_is_a_setting_and_agrees_with_the_model() -> None:
    toml = read_default_toml()
    fields = Settings.model_fields
    assert set(toml) == set(fields)
    for key, value in toml.items():
        default = fields[key].default
        default = default.get_secret_value() if hasattr(default, "get_secret_value") else default
        assert default == value, key


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORYBOT_K", "9")
    monkeypatch.setenv("STORYBOT_LLM_PROVIDER", "openai")
    monkeypatch.setenv("DISCORD_TOKEN", "abc")
    settings = load_settings()
    assert settings.k == 9
    assert settings.llm_provider == "openai"
    assert settings.discord_token.get_secret_value() == "abc"
    assert "abc" not in repr(settings)


def test_storybot_token_wins_over_plain_discord_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "plain")
    monkeypatch.setenv("STORYBOT_DISCORD_TOKEN", "prefixed")
    assert load_settings().discord_token.get_secret_value() == "prefixed"


def test_invalid_values_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORYBOT_K", "0")
    with pytest.raises(ValidationError):
        load_settings()


def test_data_dir_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORYBOT_DATA_DIR", str(tmp_path / "x"))
    assert load_settings().resolved_data_dir() == tmp_path / "x"


def test_the_wheel_ships_defaults_corpus_and_word_table(tmp_path: Path) -> None:
    """Defaults must hold for an installed wheel, not only in a checkout."""
    root = Path(__file__).resolve().parents[1]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(root),
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    [wheel] = list(tmp_path.glob("story_bot-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for member in ("config/default.toml", "index/data/petro-trump-meeting.txt", "index/data/background_zipf.tsv"):
        assert member in names
    assert "bot/cli/__init__.py" in names
