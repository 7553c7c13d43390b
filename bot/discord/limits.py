"""Discord's size limits, and splitting text to fit them: Discord rejects an oversized message
(HTTP 400, code 50035) instead of truncating it, so everything is cut to size before sending."""

from __future__ import annotations

import re

CONTENT = 2000
EMBED_TITLE = 256
EMBED_DESCRIPTION = 4096
EMBED_FIELDS = 25
FIELD_NAME = 256
FIELD_VALUE = 1024
EMBED_FOOTER = 2048
EMBED_TOTAL = 6000
BUTTON_LABEL = 80
CUSTOM_ID = 100
BUTTONS_PER_ROW = 5
ACTION_ROWS = 5
THREAD_NAME = 100
CHOICES = 25
CHOICE_NAME = 100
CHOICE_VALUE = 100
SELECT_OPTION_TEXT = 100  # a menu option's label, value and description
STRING_OPTION = 6000  # the longest string a slash-command option may declare

ELLIPSIS = "…"
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*\s")


def truncate(text: str, limit: int) -> str:
    """``text`` if it fits, else cut at a word boundary (when one is near) and end with "…"."""
    if limit <= 0:
        return ""
    if len(text) <= limit:
        return text
    cut = text[: limit - len(ELLIPSIS)]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip() + ELLIPSIS


def _cut_point(window: str) -> int:
    """Where to split a window that is too long: a paragraph, line, sentence or word break in its
    second half, or the window's end as a last resort."""
    half = len(window) // 2
    for separator in ("\n\n", "\n"):
        found = window.rfind(separator)
        if found > half:
            return found + len(separator)
    sentence_ends = [m.end() for m in _SENTENCE_END.finditer(window) if m.end() > half]
    if sentence_ends:
        return sentence_ends[-1]
    space = window.rfind(" ")
    if space > half:
        return space + 1
    return len(window)


def split_text(text: str, limit: int) -> list[str]:
    """Split text into pieces of at most ``limit`` characters, breaking at the most natural
    boundary available. Only whitespace at the cuts is dropped, so no word is ever lost."""
    if limit <= 0:
        raise ValueError("limit must be positive")
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        cut = _cut_point(rest[:limit])
        piece = rest[:cut].rstrip()
        if piece:
            pieces.append(piece)
        rest = rest[cut:].lstrip()
    if rest or not pieces:
        pieces.append(rest)
    return pieces
