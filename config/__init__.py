"""Settings: defaults in ``config/default.toml``, overridden by ``STORYBOT_*`` environment variables."""

from config.settings import Settings, load_settings

__all__ = ["Settings", "load_settings"]
