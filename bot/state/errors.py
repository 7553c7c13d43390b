"""Errors of the state layer: each message is one line, safe to show, and never contains a password."""

from __future__ import annotations


class StateError(Exception):
    """The bot's stored state cannot be used: a bad URL, a missing driver, or an unreachable database."""


class AnswerNotFound(StateError):
    """A button or vote refers to an answer that was never saved or has been purged by retention."""

    def __init__(self, answer_id: str) -> None:
        super().__init__(f"No saved answer {answer_id!r}: it may have expired.")
        self.answer_id = answer_id
