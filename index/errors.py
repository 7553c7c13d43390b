"""User-facing errors raised by the index layer."""

from __future__ import annotations


class StoryBotError(Exception):
    """An error whose message is meant for the person using story-bot, not a traceback.

    The message is short and friendly and never names a server address or a file-system path;
    ``detail`` carries those for the operator's log.
    """

    def __init__(self, message: str = "", detail: str | None = None) -> None:
        super().__init__(message)
        self.detail = detail


class DocumentError(StoryBotError):
    """A document could not be loaded: wrong type, empty, undecodable or unreadable."""


class StoreError(StoryBotError):
    """The passage store could not be reached or used."""
