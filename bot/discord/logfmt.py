"""One structured log line per answer (logfmt: ``key=value`` pairs, grep- and parser-friendly)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from bot.answer import Citation

_BARE = re.compile(r"^[A-Za-z0-9_.:@,/+-]+$")


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.1f}"
    text = "" if value is None else str(value)
    if _BARE.match(text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def logfmt(fields: Mapping[str, object]) -> str:
    return " ".join(f"{key}={_value(value)}" for key, value in fields.items())


def passage_ids(citations: Sequence[Citation], top: int = 3) -> str:
    """The top cited passages as ``source@start-end``, the ids the answer rests on."""
    return ",".join(f"{c.source}@{c.start}-{c.end}" for c in citations[:top]) or "-"
