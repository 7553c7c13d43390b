"""Sentence splitting and chunking keep exact offsets into the document text."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from index.chunking import chunk_document, split_sentences


def _sentences(text: str) -> list[str]:
    return [text[s.start : s.end] for s in split_sentences(text)]


def test_sentences_end_at_terminators_not_abbreviations() -> None:
    text = "Mr. Smith met Dr. Jones at 3.5 p.m. in the U.S. capital. It rained! Did it? Yes."
    assert _sentences(text) == [
        "Mr. Smith met Dr. Jones at 3.5 p.m. in the U.S. capital.",
        "It rained!",
        "Did it?",
        "Yes.",
    ]


def test_closing_quotes_stay_with_their_sentence() -> None:
    text = "“Come get me,” he said. “I’m waiting.” Then he left."
    assert _sentences(text) == ["“Come get me,” he said.", "“I’m waiting.”", "Then he left."]


def test_headings_are_their_own_sentence_and_wrapped_lines_are_joined() -> None:
    text = "Talks Resume\nThe two sides met on\nthe last day in Bogotá. Nothing changed."
    assert _sentences(text) == ["Talks Resume", "The two sides met on\nthe last day in Bogotá.", "Nothing changed."]


def test_every_passage_equals_its_slice_of_a_story() -> None:
    """Headings, wrapped lines, curly quotes and trailing blank lines, as stories come (the bundled
    seed story gets the same check in tests/test_seed_story.py)."""
    text = (
        "The Lighthouse at Gull Point\n\n"
        "Every evening at dusk, the keeper Mara Quill climbed the ninety steps\nand lit the great lamp. "
        "Her brother Tobias repaired the fishing nets on the pier below.\n"
        "Winter Storms\n"
        "In the winter of the great storm, a trawler ran aground on the northern reef. "
        "“Hold on, I’m coming,” Mara shouted. She rowed out alone and rescued its crew of six.\n\n\n"
    )
    passages = chunk_document("lighthouse.txt", text, max_chars=100)
    assert len(passages) > 5
    for passage in passages:
        assert passage.text == text[passage.start : passage.end]
        assert len(passage.text) <= 100
    covered = {i for p in passages for i in range(p.start, p.end)}
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())


def test_unicode_offsets_are_character_offsets() -> None:
    text = "Café owners 🎉 celebrated. Zoë said “ça va” — fine. 東京で会った。 Done."
    for passage in chunk_document("u.txt", text, max_chars=120):
        assert text[passage.start : passage.end] == passage.text


def test_long_sentence_without_spaces_is_cut_hard() -> None:
    text = "x" * 2000 + ". Short."
    passages = chunk_document("long.txt", text, max_chars=800)
    assert all(len(p.text) <= 800 and text[p.start : p.end] == p.text for p in passages)


def test_ids_are_stable_and_depend_on_content() -> None:
    text = "One sentence here. Another one there."
    first = [p.id for p in chunk_document("a.txt", text)]
    assert first == [p.id for p in chunk_document("a.txt", text)]
    assert first != [p.id for p in chunk_document("b.txt", text)]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=600), st.integers(100, 400))
def test_offsets_hold_for_any_text(text: str, max_chars: int) -> None:
    for passage in chunk_document("any.txt", text, max_chars=max_chars):
        assert text[passage.start : passage.end] == passage.text
        assert passage.text.strip() == passage.text
        assert len(passage.text) <= max_chars
