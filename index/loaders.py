"""Turn files into plain text: .txt, .md, .html (the article, not the page around it) and .pdf
(text layer).

HTML goes through trafilatura, tuned for precision on news pages: menus, cookie banners, newsletter
boxes, "related stories" lists and footers are left out, each paragraph is its own line, and the
headline leads. A page trafilatura finds no article in (a tiny page of bare paragraphs, say) falls
back to every visible line. HTML bytes are decoded the way browsers do: byte-order mark, then the
charset declared by the server or a <meta> tag, then UTF-8, then detection.
"""

from __future__ import annotations

import codecs
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
    """A document's name (its file name as indexed) and the text every offset refers to; web pages
    and HTML files also carry their title, and fetched pages the address they came from."""

    source: str
    text: str
    title: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class ExtractedText:
    """What a loader found in a file: its text and, when the format has one, its title."""

    text: str
    title: str | None = None


def _decode(data: bytes, name: str, charset: str | None = None) -> str:
    """Decode text in the charset its web server declared, else as UTF-8 with or without BOM.
    Undeclared non-UTF-8 text is refused rather than guessed: a short plain-text file carries too
    little evidence for detection, and a wrong guess would index garbled text without a word."""
    codec = _codec(charset)
    if codec and codec != "utf-8":
        text = data.decode(codec, errors="replace")  # the server said so: a stray byte is no reason to refuse
        if "\x00" in text:
            raise DocumentError(f"{name}: this looks like a binary file, not text.")
        return text
    if b"\x00" in data:
        raise DocumentError(f"{name}: this looks like a binary file, not text.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"{name}: the file is not valid UTF-8 text (bad byte at position {exc.start}).") from None


# Labels that mean something else on the web (WHATWG Encoding Standard): pages declaring Latin-1
# or ASCII are read as windows-1252, whose curly quotes and dashes they almost always contain.
_WEB_ALIASES = {"iso8859-1": "cp1252", "ascii": "cp1252", "gb2312": "gb18030"}
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([a-zA-Z0-9._:-]+)""", re.IGNORECASE)


def _codec(label: str | None) -> str | None:
    """Python's codec for a charset label, as the web reads it; None for an unknown label."""
    if not label:
        return None
    try:
        name = codecs.lookup(label.strip().strip("'\"")).name
    except LookupError:
        return None
    return _WEB_ALIASES.get(name, name)


def _meta_charset(data: bytes) -> str | None:
    """The charset a page declares in its head (<meta charset> or http-equiv Content-Type)."""
    match = _META_CHARSET.search(data[:4096])
    codec = _codec(match.group(1).decode("ascii")) if match else None
    # A page that could be read far enough to find the tag is ASCII-compatible, so not UTF-16.
    return "utf-8" if codec and codec.startswith("utf-16") else codec


def _detect_charset(data: bytes) -> str | None:
    """The most plausible legacy charset for undeclared, non-UTF-8 bytes. Ties (cp1250 and cp1252
    read Spanish equally well, say) go to windows-1252, the web's default as in browsers."""
    from charset_normalizer import from_bytes

    matches = from_bytes(data)
    best = matches.best()
    if best is None:
        return None
    for match in matches:
        tied = match.chaos <= best.chaos and match.coherence >= best.coherence
        if tied and "cp1252" in match.could_be_from_charset:
            return "cp1252"
    return best.encoding


def decode_html(data: bytes, charset: str | None = None) -> str:
    """Decode a page like a browser: BOM, then ``charset`` (from the HTTP Content-Type), then the
    page's own <meta> declaration, then UTF-8, then detection. Never refuses: a page with a few bad
    bytes is still a page, so bad bytes become U+FFFD."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return data.decode(codec, errors="replace")
    declared = _codec(charset) or _meta_charset(data)
    if declared:
        return data.decode(declared, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    return data.decode(_detect_charset(data) or "cp1252", errors="replace")


def _normalize(text: str) -> str:
    """Normalize line endings and trailing space so offsets are stable across platforms."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


class _VisibleText(HTMLParser):
    """Collect the text a browser would show (no scripts, styles, head or comments) and the page's
    title (og:title, else <title>)."""

    _HIDDEN = frozenset({"script", "style", "head", "title", "noscript", "template", "svg"})
    _BLOCK = frozenset(
        """p div br li ul ol h1 h2 h3 h4 h5 h6 tr table
        section article header footer blockquote pre hr dt dd figcaption main aside nav""".split()
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title_parts: list[str] = []
        self.og_title: str | None = None
        self._hidden_depth = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "meta":
            found = dict(attrs)
            if found.get("property") == "og:title" and found.get("content") and self.og_title is None:
                self.og_title = found["content"]
        # The first <title> only: an <svg> may have its own.
        self._in_title = self._in_title or (tag == "title" and not self.title_parts)
        if tag in self._HIDDEN:
            self._hidden_depth += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        self._in_title = self._in_title and tag != "title"
        if tag in self._HIDDEN:
            self._hidden_depth = max(0, self._hidden_depth - 1)
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title_parts.append(data)
        if not self._hidden_depth:
            self.parts.append(data)

    def text(self) -> str:
        """The visible text, one block element per line."""
        lines = (_one_line(line) for line in "".join(self.parts).split("\n"))
        return "\n".join(line for line in lines if line)

    def title(self) -> str | None:
        return _one_line(self.og_title or "".join(self.title_parts)) or None


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(text)).strip()


def _visible(markup: str) -> _VisibleText:
    parser = _VisibleText()
    parser.feed(markup)
    parser.close()
    return parser


def html_to_text(markup: str) -> str:
    """Visible text of an HTML page, one block element per line."""
    return _visible(markup).text()


def _trafilatura_article(markup: str, url: str | None) -> ExtractedText | None:
    """The main content as trafilatura sees it, favouring precision: on a news page a missed
    sentence costs less than a menu or a cookie notice quoted as if the story said it."""
    import trafilatura
    from trafilatura.settings import Document

    try:
        found = trafilatura.bare_extraction(
            markup,
            url=url,
            favor_precision=True,
            include_comments=False,
            include_tables=False,
            include_links=False,
            include_images=False,
            with_metadata=True,
        )
    except Exception:  # a parser failure on a hostile page must not lose a page we can still read
        return None
    if not isinstance(found, Document) or not (found.text or "").strip():
        return None
    return ExtractedText(found.text or "", _one_line(found.title or "") or None)


def _with_headline(text: str, title: str | None) -> str:
    """Lead with the headline: trafilatura drops an <h1> that repeats the page title, yet the
    headline is what a reader asks about first."""
    if not title or _one_line(text.split("\n", 1)[0]) == title:
        return text
    return f"{title}\n{text}"


def extract_article(markup: str, url: str | None = None) -> ExtractedText:
    """The article in an HTML page, headline first and one paragraph per line, with its title; a
    page trafilatura finds no article in falls back to its visible text (possibly empty)."""
    article = _trafilatura_article(markup, url)
    if article is not None:
        title = article.title or _visible(markup).title()
        return ExtractedText(_with_headline(article.text, title), title)
    page = _visible(markup)
    return ExtractedText(page.text(), page.title())


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


# A loader turns bytes (named for messages, with the charset and address a web server gave) into text.
_Loader = Callable[[bytes, str, str | None, str | None], ExtractedText]


def _pdf(data: bytes, name: str, charset: str | None, url: str | None) -> ExtractedText:
    return ExtractedText(_load_pdf(data, name))


def _text(data: bytes, name: str, charset: str | None, url: str | None) -> ExtractedText:
    return ExtractedText(_decode(data, name, charset))


def _html(data: bytes, name: str, charset: str | None, url: str | None) -> ExtractedText:
    return extract_article(decode_html(data, charset), url)


_LOADERS: dict[str, _Loader] = {
    ".txt": _text,
    ".text": _text,
    ".md": _text,
    ".markdown": _text,
    ".html": _html,
    ".htm": _html,
    ".pdf": _pdf,
}
SUPPORTED_SUFFIXES = tuple(sorted(_LOADERS))


def is_supported(name: str) -> bool:
    """Whether a file name has a type story-bot can read."""
    return Path(name).suffix.lower() in _LOADERS


def load_bytes(data: bytes, name: str, *, charset: str | None = None, url: str | None = None) -> LoadedDocument:
    """Load a document from raw bytes, its type decided by the file name's suffix. A web page
    passes the charset its server declared and its address (kept on the document)."""
    suffix = Path(name).suffix.lower()
    loader = _LOADERS.get(suffix)
    if loader is None:
        kinds = ", ".join(SUPPORTED_SUFFIXES)
        raise DocumentError(f"{name}: unsupported file type {suffix or '(none)'!r}; use one of {kinds}.")
    if len(data) > MAX_DOCUMENT_BYTES:
        raise DocumentError(f"{name}: the file is larger than {MAX_DOCUMENT_BYTES // 2**20} MiB.")
    if not data.strip():
        raise DocumentError(f"{name}: the file is empty.")
    extracted = loader(data, name, charset, url)
    text = _normalize(extracted.text)
    if not text:
        raise DocumentError(f"{name}: the file has no readable text.")
    return LoadedDocument(source=Path(name).name, text=text, title=extracted.title, url=url)


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
