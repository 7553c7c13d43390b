"""The code map's one rule, checked: imports point from the faces down to ``index/``, never back."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FACES = ("bot.discord", "bot.cli")


def imported_modules(path: Path) -> set[str]:
    """Every absolute module a file imports, at the top or inside functions."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def modules_under(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def _is_under(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


@pytest.mark.parametrize("path", modules_under("index"), ids=lambda p: str(p.relative_to(ROOT)))
def test_index_imports_nothing_from_bot(path: Path) -> None:
    assert not {m for m in imported_modules(path) if _is_under(m, ("bot",))}


@pytest.mark.parametrize(
    "path",
    [
        p
        for p in modules_under("bot")
        if p.name != "__main__.py"  # `python -m bot` is the CLI's other entry point
        and not _is_under(".".join(p.relative_to(ROOT).with_suffix("").parts), FACES)
    ],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_no_part_below_the_faces_imports_a_face(path: Path) -> None:
    assert not {m for m in imported_modules(path) if _is_under(m, FACES)}


def test_every_part_of_the_code_map_exists() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    parts = ("index/", "bot/answering/", "bot/llm/", "bot/summaries/", "bot/discord/", "bot/cli/", "bot/service.py")
    for part in parts:
        assert part in readme
        assert (ROOT / part).exists(), part
