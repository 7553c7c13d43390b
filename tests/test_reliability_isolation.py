"""Isolation: each Discord guild has its own collection (``guild-<id>``), and nothing indexed,
asked or removed in one guild is ever seen in another, for any placement of documents
(a hypothesis property test; document names collide across guilds on purpose).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.service import StoryService
from index.loaders import LoadedDocument
from index.store import open_client

SNOWFLAKES = st.integers(min_value=10**16, max_value=2**63 - 1)  # Discord guild ids
NAMES = st.sampled_from(["notes.txt", "story.md", "minutes.txt", "report.html"])


@dataclass(frozen=True, slots=True)
class Placement:
    """One upload: a document with a made-up marker word, into one guild."""

    guild: int
    source: str
    marker: str

    @property
    def text(self) -> str:
        return f"The committee of guild {self.guild} chose the codeword {self.marker} for {self.source}."


def _marker(number: int) -> str:
    """A word no other document uses: letters only, so the tokenizer keeps it whole."""
    letters = ""
    number += 26**3
    while number:
        number, digit = divmod(number, 26)
        letters += chr(ord("a") + digit)
    return "zq" + letters


@st.composite
def placements(draw: st.DrawFn) -> tuple[list[int], list[Placement]]:
    guilds = draw(st.lists(SNOWFLAKES, min_size=2, max_size=4, unique=True))
    uploads = draw(st.lists(st.tuples(st.sampled_from(guilds), NAMES, st.integers(0, 10**6)), min_size=1, max_size=6))
    return guilds, [Placement(guild, source, _marker(n)) for guild, source, n in uploads]


def collection(guild: int) -> str:
    return f"guild-{guild}"


def _expected(uploads: list[Placement]) -> dict[tuple[int, str], Placement]:
    """The last upload of each (guild, name) wins: re-uploading replaces a document."""
    return {(p.guild, p.source): p for p in uploads}


def _reset(data_dir: Path) -> None:
    """Hypothesis runs many examples in one test: each starts from an empty store."""
    client = open_client(data_dir)
    for existing in client.list_collections():
        client.delete_collection(existing.name)


def _assert_isolated(service: StoryService, guilds: list[int], expected: dict[tuple[int, str], Placement]) -> None:
    for guild in guilds:
        mine = {source: p for (g, source), p in expected.items() if g == guild}
        assert {info.source for info in service.sources(collection(guild))} == set(mine)
        for source, placement in mine.items():
            assert service.store(collection(guild)).document_text(source) == placement.text


def _assert_answers_stay_home(service: StoryService, guild: int, expected: dict[tuple[int, str], Placement]) -> None:
    """Whatever is asked (even another guild's codeword), every quote comes from this guild."""
    texts = {source: p.text for (g, source), p in expected.items() if g == guild}
    for placement in expected.values():
        answer = service.ask(f"Which codeword is {placement.marker}?", collection(guild))
        for citation in [*answer.citations, *answer.related]:
            assert citation.source in texts
            assert texts[citation.source][citation.start : citation.end] == citation.passage  # this guild's text


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,  # the same examples on every run: deterministic
    database=None,
    # The store is emptied at the start of each example, so sharing the fixtures is safe.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(case=placements())
def test_guild_collections_never_leak(
    make_service: Callable[..., StoryService], tmp_path: Path, case: tuple[list[int], list[Placement]]
) -> None:
    guilds, uploads = case
    data_dir = tmp_path / "isolation"
    _reset(data_dir)
    service = make_service(data_dir=str(data_dir), index_batch_passages=4)
    for placement in uploads:
        service.index_document(LoadedDocument(placement.source, placement.text), collection(placement.guild))
    expected = _expected(uploads)
    _assert_isolated(service, guilds, expected)
    for guild in guilds:
        if any(g == guild for g, _ in expected):
            _assert_answers_stay_home(service, guild, expected)

    gone = uploads[0]
    service.remove(gone.source, collection(gone.guild))
    del expected[(gone.guild, gone.source)]
    _assert_isolated(service, guilds, expected)  # removal in one guild touches no other
