"""User-facing errors raised by the index layer."""


class StoryBotError(Exception):
    """An error whose message is meant for the person using story-bot, not a traceback."""


class DocumentError(StoryBotError):
    """A document could not be loaded: wrong type, empty, undecodable or unreadable."""


class StoreError(StoryBotError):
    """The passage store could not be reached or used."""
