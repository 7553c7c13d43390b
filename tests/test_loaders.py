"""Loaders: every supported type, and a clear error for everything else."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from index.errors import DocumentError
from index.loaders import html_to_text, iter_document_paths, load_bytes, load_document
from tests.pdf_builder import build_pdf


def test_txt_and_md_load_as_text(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Hello world.\r\nSecond line.", encoding="utf-8")
    (tmp_path / "b.md").write_text("# Title\n\nSome *markdown* text.", encoding="utf-8")
    assert load_document(tmp_path / "a.txt").text == "Hello world.\nSecond line."
    md = load_document(tmp_path / "b.md")
    assert md.source == "b.md"
    assert "Some *markdown* text." in md.text


def test_utf8_bom_is_dropped() -> None:
    assert load_bytes("\ufeffBogotá está aquí.".encode(), "x.txt").text == "Bogotá está aquí."


def test_html_keeps_only_visible_text() -> None:
    markup = """<html><head><title>T</title><style>p{color:red}</style></head>
    <body><script>alert('x')</script><h1>Headline</h1><p>First &amp; only <b>paragraph</b>.</p>
    <!-- a comment --><noscript>enable js</noscript><p>Second.</p></body></html>"""
    text = html_to_text(markup)
    assert text == "Headline\nFirst & only paragraph.\nSecond."
    assert load_bytes(markup.encode(), "page.html").text == text


def test_pdf_text_layer_is_extracted() -> None:
    data = build_pdf(["The bridge will reopen on June 12.", "The opening is official."])
    document = load_bytes(data, "story.pdf")
    assert "The bridge will reopen on June 12." in document.text
    assert "The opening is official." in document.text


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"hello", "image.png", "unsupported file type '.png'"),
        (b"hello", "README", "unsupported file type '(none)'"),
        (b"", "empty.txt", "empty"),
        (b"   \n\t ", "blank.md", "empty"),
        (b"\xff\xfe\xfa bad bytes", "bad.txt", "not valid UTF-8"),
        (b"abc\x00def", "binary.txt", "binary"),
        (b"not a pdf at all", "broken.pdf", "PDF could not be read"),
        (b"<html><script>x()</script></html>", "empty.html", "no readable text"),
    ],
)
def test_bad_inputs_get_clear_errors(data: bytes, name: str, message: str) -> None:
    with pytest.raises(DocumentError, match=re.escape(message)) as caught:
        load_bytes(data, name)
    assert str(caught.value).startswith(name)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match="no such file"):
        load_document(tmp_path / "nope.txt")
    with pytest.raises(DocumentError, match="not a regular file"):
        load_document(tmp_path)


def test_directories_recurse_to_supported_files(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    for name in ("a.txt", "sub/b.md", "sub/c.png", "d.html"):
        (tmp_path / name).write_text("x", encoding="utf-8")
    found = [p.relative_to(tmp_path).as_posix() for p in iter_document_paths([tmp_path])]
    assert found == ["a.txt", "d.html", "sub/b.md"]
