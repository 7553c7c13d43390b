"""The bundled seed story, used when a collection has nothing indexed yet."""

from __future__ import annotations

from importlib import resources

from index.loaders import LoadedDocument, load_bytes

DEFAULT_CORPUS_FILES = ("petro-trump-meeting.txt",)


def default_corpus() -> list[LoadedDocument]:
    """The documents shipped inside the package (works from a checkout and from a wheel)."""
    data = resources.files("index").joinpath("data")
    return [load_bytes(data.joinpath(name).read_bytes(), name) for name in DEFAULT_CORPUS_FILES]
