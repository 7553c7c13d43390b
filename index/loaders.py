"""Turn files into plain text: .txt, .md, .html (visible text only) and .pdf (text layer)."""

from __future__ import annotations

import html
import io
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from index.errors import DocumentError

MAX_DOCUMENT_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class LoadedDocument:
    """A document's name (its file name as indexed) and the text every offset refers to."""

    source: str
    text: str


def _decode(data: bytes, name: str) -> str:
    """Decode UTF-8 (with or without BOM); anything else is refused rather than guessed."""
    if b"\x00" in data:
        raise DocumentError(f"{name}: this looks like a binary file, not text.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"{name}: the file is not valid UTF-8 text (bad byte at position {exc.start}).") from None


def _normalize(text: str) -> str:
    """Normalize line endings and trailing space so offsets are stable across platforms."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


class _VisibleText(HTMLParser):
    """Collect the text a browser would show: no scripts, styles, head or comments."""

    _HIDDEN = frozenset({"script", "style", "head", "title", "noscript", "template", "svg"})
    _BLOCK = frozenset(
        """p div br li ul ol h1 h2 h3 h4 h5 h6 tr table
        section article header footer blockquote pre hr dt dd figcaption main aside nav""".split()
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._HIDDEN:
            self._hidden_depth += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN:
            self._hidden_depth = max(0, self._hidden_depth - 1)
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden_depth:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """Visible text of an HTML page, one block element per line."""
    parser = _VisibleText()
    parser.feed(markup)
    parser.close()
    lines = (re.sub(r"\s+", " ", html.unescape(line)).strip() for line in "".join(parser.parts).split("\n"))
    return "\n".join(line for line in lines if line)


def _load_pdf(data: bytes, name: str) -> str:
    """Text layer of a PDF, page by page; a scanned PDF without one is an error."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise DocumentError(f"{name}: the PDF could not be read ({exc}).") from None
    return "\n\n".join(pages)


def _load_text(data: bytes, name: str) -> str:
    return _decode(data, name)


def _load_html(data: bytes, name: str) -> str:
    return html_to_text(_decode(data, name))


_LOADERS: dict[str, Callable[[bytes, str], str]] = {
    ".txt": _load_text,
    ".text": _load_text,
    ".md": _load_text,
    ".markdown": _load_text,
    ".html": _load_html,
    ".htm": _load_html,
    ".pdf": _load_pdf,
}
SUPPORTED_SUFFIXES = tuple(sorted(_LOADERS))


def is_supported(name: str) -> bool:
    """Whether a file name has a type story-bot can read."""
    return Path(name).suffix.lower() in _LOADERS


def load_bytes(data: bytes, name: str) -> LoadedDocument:
    """Load a document from raw bytes, its type decided by the file name's suffix."""
    suffix = Path(name).suffix.lower()
    loader = _LOADERS.get(suffix)
    if loader is None:
        kinds = ", ".join(SUPPORTED_SUFFIXES)
        raise DocumentError(f"{name}: unsupported file type {suffix or '(none)'!r}; use one of {kinds}.")
    if len(data) > MAX_DOCUMENT_BYTES:
        raise DocumentError(f"{name}: the file is larger than {MAX_DOCUMENT_BYTES // 2**20} MiB.")
    if not data.strip():
        raise DocumentError(f"{name}: the file is empty.")
    text = _normalize(loader(data, name))
    if not text:
        raise DocumentError(f"{name}: the file has no readable text.")
    return LoadedDocument(source=Path(name).name, text=text)


def load_document(path: Path) -> LoadedDocument:
    """Load one file from disk."""
    try:
        path.name.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes in the name: it could be neither shown nor typed back
        shown = os.fsencode(path).decode("utf-8", "backslashreplace")
        raise DocumentError(f"{shown}: the file name is not valid UTF-8; rename the file to index it.") from None
    if not path.exists():
        raise DocumentError(f"{path.name}: no such file.", detail=str(path))
    if not path.is_file():
        raise DocumentError(f"{path.name}: not a regular file.", detail=str(path))
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DocumentError(f"{path.name}: could not be read ({exc.strerror}).", detail=f"{path}: {exc}") from None
    return load_bytes(data, path.name)


def iter_document_paths(paths: list[Path]) -> Iterator[Path]:
    """Expand directories (recursively, supported types only, sorted); files pass through."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and is_supported(p.name))
        else:
            yield path
